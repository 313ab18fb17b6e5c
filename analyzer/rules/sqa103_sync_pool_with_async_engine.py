from __future__ import annotations

from typing import Optional

import libcst as cst

from ..engines import ASYNC_ENGINE_FUNCTIONS, call_names, callee_name
from ..rule import Rule
from ..values import Ref

_NAMES = ("create_async_engine", "async_engine_from_config")
_SYNC_POOLS = {"QueuePool", "SingletonThreadPool"}
_POOL_MODULES = ("sqlalchemy.", "sqlalchemy.pool.", "sqlalchemy.pool.impl.")


class SyncPoolWithAsyncEngine(Rule):
    code = "SQA103"
    name = "sync-pool-with-async-engine"
    message = "QueuePool / SingletonThreadPool cannot be used with an async engine; use AsyncAdaptedQueuePool (the default) or NullPool"
    detail = "pool class {} cannot be used with an async engine; use AsyncAdaptedQueuePool (the default) or NullPool"
    explain = """\
What it does: flags `create_async_engine(..., poolclass=QueuePool)` and `poolclass=SingletonThreadPool`
(any import form, also `async_engine_from_config`, also a project subclass of those pools).

Why it breaks: those pools are built for threads; the async engine refuses them when it is created:
    sqlalchemy.exc.ArgumentError: Pool class QueuePool cannot be used with asyncio engine

Instead: leave `poolclass` out (the async engine uses `AsyncAdaptedQueuePool`), or pass
`AsyncAdaptedQueuePool`, `NullPool` (no pooling, e.g. behind pgbouncer or in tests) or `StaticPool`.
"""
    valid = (
        """\
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

engine = create_async_engine("postgresql+asyncpg://app@db/app", poolclass=AsyncAdaptedQueuePool, pool_size=10)
""",
        """\
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

engine = create_async_engine("postgresql+asyncpg://app@db/app", poolclass=NullPool)
""",
        """\
from sqlalchemy import create_engine
from sqlalchemy.pool import QueuePool

engine = create_engine("postgresql+psycopg2://app@db/app", poolclass=QueuePool)  # sync engine: fine
""",
        """\
from sqlalchemy.ext.asyncio import create_async_engine
from myapp.pools import QueuePool  # not SQLAlchemy's

engine = create_async_engine("sqlite+aiosqlite:///app.db", poolclass=QueuePool)
""",
    )
    invalid = (
        """\
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import QueuePool

engine = create_async_engine(  # error: SQA103
    "postgresql+asyncpg://app@db/app",
    poolclass=QueuePool,
    pool_size=20,
)
""",
        """\
import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_async

engine = sa_async.create_async_engine("sqlite+aiosqlite:///app.db", poolclass=sa.pool.SingletonThreadPool)  # error: SQA103
""",
        """\
from sqlalchemy import QueuePool as Pool
from sqlalchemy.ext.asyncio import async_engine_from_config

def make_engine(settings: dict):
    return async_engine_from_config(settings, prefix="db.", poolclass=Pool)  # error: SQA103
""",
        """\
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import QueuePool


class LoggingPool(QueuePool):
    pass


POOL = LoggingPool
engine = create_async_engine("postgresql+asyncpg://app@db/app", poolclass=POOL)  # error: SQA103
""",
    )

    _names = None

    def visit_Call(self, node: cst.Call) -> None:
        if self._names is None:
            self._names = call_names(self.ctx.facts, _NAMES)
        if callee_name(node.func) not in self._names:
            return
        poolclass = next((a.value for a in node.args if a.keyword is not None and a.keyword.value == "poolclass"), None)
        if poolclass is None or self.ctx.kind(node.func) not in ASYNC_ENGINE_FUNCTIONS:
            return
        pool = self._sync_pool(self.ctx.value(poolclass))
        if pool is not None:
            self.report(node, self.detail.format(pool))

    def _sync_pool(self, value, depth: int = 0) -> Optional[str]:
        """The SQLAlchemy thread pool class a value is, or a project subclass of, if any."""
        if not isinstance(value, Ref) or depth > 4:
            return None
        index = self.ctx.index
        name = index.external_name(value)
        if name is not None:
            head, _, last = name.rpartition(".")
            return f"`{last}`" if last in _SYNC_POOLS and head + "." in _POOL_MODULES else None
        cls = index.class_(value)
        if cls is None:
            return None
        for base in cls.bases:
            pool = self._sync_pool(base, depth + 1)
            if pool is not None:
                return f"`{cls.name}` (a {pool.strip('`').split('`')[-1]} subclass)" if depth == 0 else pool
        return None
