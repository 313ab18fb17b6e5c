from __future__ import annotations

import libcst as cst

from ..rule import Rule
from ..session_factories import async_factory_call, factory_names, keyword


class SessionmakerForAsync(Rule):
    code = "SQA204"
    name = "sessionmaker-for-async"
    message = "`sessionmaker(class_=AsyncSession)`: use `async_sessionmaker`"
    default = False
    explain = """\
What it does (opt-in): flags `sessionmaker(..., class_=AsyncSession)` (SQLAlchemy's or SQLModel's
AsyncSession, any import alias), the SQLAlchemy 1.4 way of making AsyncSessions that many tutorials
still copy.

Why it breaks: it does not break at runtime: the factory works. But `sessionmaker` is typed as
making `Session`s, so type checkers and editors treat `async with SessionLocal() as session` as a
sync Session (no `await` needed, `.query()` offered), hiding the mistakes the other rules catch;
`async_sessionmaker` (SQLAlchemy 2.0+) is the supported, typed factory for AsyncSession, and its
`begin()` is an async context manager.

Instead: `SessionLocal = async_sessionmaker(engine, expire_on_commit=False)` (`class_` is not needed:
AsyncSession is the default).
"""
    valid = (
        """\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
""",
        """\
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

engine = create_engine("sqlite:///./app.db")
SessionLocal = sessionmaker(bind=engine, class_=Session)  # a sync factory: nothing async here
""",
        """\
from sqlalchemy.orm import sessionmaker

class AsyncSession:  # a project class that only shares the name
    pass

SessionLocal = sessionmaker(class_=AsyncSession)
""",
    )
    invalid = (
        """\
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import sessionmaker

engine = create_async_engine("postgresql+asyncpg://user:password@localhost:5432/mydb")
AsyncSessionLocal = sessionmaker(  # error: SQA204
    bind=engine,
    class_=AsyncSession,
    expire_on_commit=False,
)
""",
        """\
from sqlalchemy import orm
from sqlalchemy.ext import asyncio as sa_asyncio

def make_factory(engine):
    return orm.sessionmaker(engine, class_=sa_asyncio.AsyncSession, expire_on_commit=False)  # error: SQA204
""",
        """\
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlalchemy.orm import sessionmaker as maker

async_session = maker(engine, class_=AsyncSession, expire_on_commit=False)  # error: SQA204
""",
    )

    def __init__(self, ctx):
        super().__init__(ctx)
        self._names = factory_names(ctx)

    def visit_Call(self, node: cst.Call) -> None:
        if keyword(node, "class_") is None:
            return
        if async_factory_call(self.ctx, node, self._names) == "fn:sessionmaker":
            self.report(node)
