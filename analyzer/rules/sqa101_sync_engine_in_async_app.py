from __future__ import annotations

from typing import Optional

import libcst as cst

from ..engines import (SYNC_ENGINE_FUNCTIONS, async_used_engines, call_names, callee_name, has_async_routes,
                       imports_async_sqlalchemy, is_migration, wrapped_in_async_engine)
from ..rule import Rule

_NAMES = ("create_engine", "engine_from_config")


class SyncEngineInAsyncApp(Rule):
    code = "SQA101"
    name = "sync-engine-in-async-app"
    message = "sync `create_engine()` in an async app: its queries block the event loop; use `create_async_engine()`"
    detail = "sync `{}()` in an async app ({}): its queries block the event loop; use `create_async_engine()`"
    explain = """\
What it does: flags `sqlalchemy.create_engine(...)` / `engine_from_config(...)` (any import alias,
also SQLModel's `create_engine`) in a module that also uses async SQLAlchemy
(`sqlalchemy.ext.asyncio`) or defines `async def` route handlers, or whose module-level engine is
used from an `async def` anywhere in the project (`engine.connect()`, a `sessionmaker` bound to it).
Alembic's env.py and migration scripts are not flagged, nor a module that is sync throughout (a
sync CLI, seed script or worker inside an async project), nor an engine made inside a sync `def`
(a helper, a test fixture), nor `AsyncEngine(create_engine(...))`.

Why it breaks: a sync engine's driver does blocking socket IO. Used from a coroutine, every query
stops the event loop and every other request waits for it; under load the app serialises to one
request at a time. With an async driver in the URL it fails outright with
    sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_() here.

Instead: `engine = create_async_engine("postgresql+asyncpg://...")`, an `async_sessionmaker(engine,
expire_on_commit=False)`, and `async with` sessions with awaited queries. Keep a sync engine only in
modules that are sync throughout (scripts, Alembic).
"""
    valid = (
        """\
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()
""",
        """\
# file: scripts/seed.py
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

engine = create_engine("postgresql+psycopg2://app@db/app")  # a sync script: fine


def main():
    with Session(engine) as session:
        session.commit()
# file: app/main.py
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health():
    return {"ok": True}
""",
        """\
# file: alembic/env.py
from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlalchemy.ext.asyncio import AsyncEngine

config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section), poolclass=pool.NullPool)
""",
        """\
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

engine = create_engine("sqlite:///./app.db")  # a sync app: sync routes run in the thread pool
SessionLocal = sessionmaker(bind=engine)
app = FastAPI()


@app.get("/items")
def items():
    with SessionLocal() as session:
        return session.execute(text("select 1")).all()
""",
        """\
import pytest
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine


@pytest.fixture
def sync_engine():
    engine = create_engine("sqlite://")  # a sync fixture for the sync tests
    yield engine
    engine.dispose()
""",
    )
    invalid = (
        """\
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

engine = create_engine("postgresql://app@db/app")  # error: SQA101
SessionLocal = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
""",
        """\
from fastapi import FastAPI
import sqlalchemy as sa

engine = sa.create_engine("sqlite:///./app.db", connect_args={"check_same_thread": False})  # error: SQA101
app = FastAPI()


@app.get("/users")
async def users():
    with engine.connect() as conn:
        return conn.execute(sa.text("select * from users")).all()
""",
        """\
# file: app/db.py
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine("postgresql+psycopg2://app@db/app")  # error: SQA101
SessionLocal = sessionmaker(bind=engine)
# file: app/tasks.py
from sqlalchemy import text

from app.db import SessionLocal


async def nightly_cleanup():
    with SessionLocal() as session:
        session.execute(text("delete from tokens where expired"))
""",
    )

    _names = None
    _context: Optional[str] = None

    def __init__(self, ctx):
        super().__init__(ctx)
        self._wrapped: set[int] = set()
        self._assigned: dict[int, str] = {}

    def visit_Assign(self, node: cst.Assign) -> None:
        if isinstance(node.value, cst.Call) and self.ctx.scope.kind == "module":
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self._assigned[id(node.value)] = target.target.value

    def visit_Call(self, node: cst.Call) -> None:
        if self._names is None:
            self._names = call_names(self.ctx.facts, _NAMES + ("AsyncEngine",))
        name = callee_name(node.func)
        if name not in self._names:
            return
        kind = self.ctx.kind(node.func)
        if kind == "type:AsyncEngine":
            self._wrapped.update(id(a.value) for a in node.args)
            return
        if kind not in SYNC_ENGINE_FUNCTIONS or id(node) in self._wrapped:
            return
        function = self.ctx.function
        if function is not None and not function.is_async:
            return  # made and used inside a sync function (a helper, a test fixture): sync code
        if is_migration(self.ctx.path, self.ctx.facts):
            return
        name = self._assigned.get(id(node))
        if name is not None and wrapped_in_async_engine(self.ctx.index, self.ctx.facts, (name,)):
            return
        reason = self._async_module() or self._used_from_async(node)
        if reason:
            self.report(node, self.detail.format(kind[3:], reason))

    def _async_module(self) -> str:
        if self._context is None:
            facts, index = self.ctx.facts, self.ctx.index
            if imports_async_sqlalchemy(facts):
                self._context = "this module uses sqlalchemy.ext.asyncio"
            elif has_async_routes(index, facts):
                self._context = "this module defines async route handlers"
            else:
                self._context = ""
        return self._context

    def _used_from_async(self, node: cst.Call) -> str:
        name = self._assigned.get(id(node))
        if name is None:
            return ""
        symbol = self.ctx.facts.symbols.get(name)
        if symbol is not None and id(symbol) in async_used_engines(self.ctx.index):
            return f"`{name}` is used from async code"
        return ""
