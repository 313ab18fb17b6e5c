from __future__ import annotations

import libcst as cst

from ..engines import SYNC_ENGINE_FUNCTIONS, call_names, callee_name, wrapped_in_async_engine
from ..redact import mask_urls
from ..rule import Rule
from ..urls import ASYNC_ONLY_DRIVERS, scheme_of, split_scheme, url_argument
from ..values import Call

_NAMES = ("create_engine", "engine_from_config")
_WRAPPERS = frozenset({"type:AsyncEngine"})


class AsyncDriverInSyncEngine(Rule):
    code = "SQA105"
    name = "async-driver-in-sync-engine"
    message = "sync engine given an async driver URL (+asyncpg, +aiosqlite, ...): its first query fails with MissingGreenlet"
    detail = ("sync `{}()` given the async driver `{}`: its first query fails with MissingGreenlet; "
               "use `create_async_engine()`, or a sync driver for a sync engine")
    explain = """\
What it does: flags a sync engine (`create_engine`, `engine_from_config`, SQLModel's `create_engine`)
given a URL whose driver only has an asyncio API: `+asyncpg`, `+aiosqlite`, `+aiomysql`, `+asyncmy`,
`+psycopg_async`, `+aioodbc`. The URL is followed like SQA102 does (constants, `os.getenv`
defaults, f-strings, `URL.create`). A sync engine wrapped in `AsyncEngine(...)` is not flagged.

Why it breaks: the engine is created without complaint, but the async driver must be driven from
a greenlet that only the asyncio extension sets up. The first connection fails with
    sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_() here.
    Was IO attempted in an unexpected place?

Instead: in async code use `create_async_engine(url)` with the async URL; for a sync engine
(scripts, Alembic, a sync worker) use a sync driver: `postgresql+psycopg2://`, `postgresql+psycopg://`,
`sqlite://`, `mysql+pymysql://`.
"""
    valid = (
        """\
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app")
""",
        """\
from sqlalchemy import create_engine

engine = create_engine("postgresql+psycopg://app@db/app")  # psycopg 3 works sync too
""",
        """\
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncEngine

engine = AsyncEngine(create_engine("sqlite+aiosqlite:///app.db", future=True))
""",
        """\
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncEngine

sync_engine = create_engine("postgresql+asyncpg://app@db/app")
engine = AsyncEngine(sync_engine)
""",
        """\
import os
from sqlalchemy import create_engine

# Alembic / scripts: the async URL rewritten to its sync driver first
url = os.environ["DATABASE_URL"].replace("+asyncpg", "+psycopg2")
engine = create_engine(url)
""",
    )
    invalid = (
        """\
from sqlalchemy import create_engine

engine = create_engine("postgresql+asyncpg://app:secret@db/app")  # error: SQA105
""",
        """\
import os
import sqlalchemy as sa

DB_URL = os.environ.get("DB_URL", "sqlite+aiosqlite:///./dev.db")
engine = sa.create_engine(DB_URL, echo=True)  # error: SQA105
""",
        """\
from sqlmodel import Session, create_engine

DATABASE_URL = "mysql+aiomysql://app@db/app"
engine = create_engine(DATABASE_URL)  # error: SQA105


def get_session():
    with Session(engine) as session:
        yield session
""",
        """\
from sqlalchemy import engine_from_config
from sqlalchemy.engine import URL

def engine_for(config: dict):
    return engine_from_config(config, url=URL.create("postgresql+asyncpg", host="db"))  # error: SQA105
""",
    )

    _names = None

    def __init__(self, ctx):
        super().__init__(ctx)
        self._wrapped: set[int] = set()
        self._assigned: dict[int, list[str]] = {}

    def visit_Call(self, node: cst.Call) -> None:
        if self._names is None:
            self._names = call_names(self.ctx.facts, _NAMES + ("AsyncEngine",))
        name = callee_name(node.func)
        if name not in self._names:
            return
        kind = self.ctx.kind(node.func)
        if kind in _WRAPPERS:  # AsyncEngine(create_engine(...)): the 1.4-era way to build an async engine
            self._wrapped.update(id(a.value) for a in node.args)
            return
        if kind not in SYNC_ENGINE_FUNCTIONS or id(node) in self._wrapped:
            return
        value = self.ctx.value(node)
        if not isinstance(value, Call):
            return
        scheme = scheme_of(self.ctx.index, url_argument(value, kind == "fn:engine_from_config"))
        if scheme is None:
            return
        _, driver = split_scheme(scheme)
        if driver in ASYNC_ONLY_DRIVERS and not self._wrapped_later(node):
            self.report(node, mask_urls(self.detail.format(kind[3:], scheme)))

    def visit_Assign(self, node: cst.Assign) -> None:
        if isinstance(node.value, cst.Call) and self.ctx.scope.kind == "module":
            self._assigned[id(node.value)] = [t.target.value for t in node.targets if isinstance(t.target, cst.Name)]

    def _wrapped_later(self, node: cst.Call) -> bool:
        return wrapped_in_async_engine(self.ctx.index, self.ctx.facts, self._assigned.get(id(node), ()))
