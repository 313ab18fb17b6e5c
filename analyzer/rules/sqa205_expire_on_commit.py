from __future__ import annotations

from typing import Optional

import libcst as cst

from ..rule import Rule
from ..session_factories import async_factory_call, factory_names, has_star_kwargs, keyword
from ..values import dotted_name


class ExpireOnCommit(Rule):
    code = "SQA205"
    name = "expire-on-commit"
    message = ("AsyncSession factory without `expire_on_commit=False`: attributes read after "
               "`commit()` raise MissingGreenlet")
    explain = """\
What it does: flags an AsyncSession factory, `async_sessionmaker(...)` or
`sessionmaker(..., class_=AsyncSession)`, made without `expire_on_commit=False` (or with
`expire_on_commit=True`). A factory configured later in the same module with
`Factory.configure(expire_on_commit=False)`, or given `**options` the analyzer cannot read, is not
flagged. Only factories are checked: an `AsyncSession(engine)` built directly is left alone (the
spec names factories; direct construction is mostly seen in scripts and tests).

Why it breaks: by default `commit()` expires every loaded object, so the next attribute read must
load it again: that is IO, and outside an awaited call AsyncSession cannot do it. Returning the
just-committed object from a FastAPI route (serialization reads its attributes), or reading
`user.name` after `await session.commit()`, fails with (SQLAlchemy 2.1 + aiosqlite):
    sqlalchemy.exc.StatementError: (sqlalchemy.exc.MissingGreenlet) greenlet_spawn has not been
    called; can't call await_() here. Was IO attempted in an unexpected place?

Instead: `async_sessionmaker(engine, expire_on_commit=False)`; where fresh database values are
needed after a commit, `await session.refresh(obj)` explicitly.
"""
    valid = (
        """\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import sessionmaker

SessionLocal: async_sessionmaker[AsyncSession] = async_sessionmaker()
SessionLocal.configure(bind=engine, expire_on_commit=False)

LegacyLocal = sessionmaker(bind=engine, class_=AsyncSession, expire_on_commit=False)
""",
        """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine("sqlite:///./app.db")
SessionLocal = sessionmaker(bind=engine)  # sync: lazy refresh after commit just works
""",
        """\
from sqlalchemy.ext.asyncio import async_sessionmaker

def session_factory(engine, **options):
    return async_sessionmaker(engine, **options)  # the options are not visible here

def from_settings(engine, settings):
    return async_sessionmaker(engine, expire_on_commit=settings.expire_on_commit)
""",
    )
    invalid = (
        """\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite:///./app.db")
async_session = async_sessionmaker(engine)  # error: SQA205
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import sessionmaker

engine = create_async_engine("postgresql+asyncpg://app@db/app")
SessionLocal = sessionmaker(engine, class_=AsyncSession)  # error: SQA205
""",
        """\
from contextlib import asynccontextmanager
from fastapi import FastAPI
from sqlalchemy.ext import asyncio as sa

@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = sa.create_async_engine("postgresql+asyncpg://app@db/app")
    app.state.sessionmaker = sa.async_sessionmaker(engine, expire_on_commit=True)  # error: SQA205
    yield
    await engine.dispose()
""",
    )

    def __init__(self, ctx):
        super().__init__(ctx)
        self._names = factory_names(ctx)
        self._candidates: list[tuple[cst.Call, Optional[str], bool]] = []
        self._assigned: dict[cst.Call, str] = {}  # factory call -> the name it is assigned to
        self._configured: set[str] = set()  # names given `.configure(expire_on_commit=False)`

    def visit_Assign(self, node: cst.Assign) -> None:
        if isinstance(node.value, cst.Call) and len(node.targets) == 1:
            target = dotted_name(node.targets[0].target)
            if target:
                self._assigned[node.value] = target

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.value, cst.Call):
            target = dotted_name(node.target)
            if target:
                self._assigned[node.value] = target

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "configure":
            if _is_false(keyword(node, "expire_on_commit")):
                owner = dotted_name(func.value)
                if owner:
                    self._configured.add(owner)
            return
        if async_factory_call(self.ctx, node, self._names) is None:
            return
        setting = keyword(node, "expire_on_commit")
        if setting is None and has_star_kwargs(node):
            return
        if setting is None or _is_true(setting):
            self._candidates.append((node, self._assigned.get(node), setting is not None))

    def leave_Module(self, node: cst.Module) -> None:
        for call, name, explicit in self._candidates:
            if name is None or name not in self._configured:
                self.report(call, "AsyncSession factory with `expire_on_commit=True`: attributes read after "
                                  "`commit()` raise MissingGreenlet" if explicit else None)


def _is_false(node: Optional[cst.BaseExpression]) -> bool:
    return isinstance(node, cst.Name) and node.value == "False"


def _is_true(node: Optional[cst.BaseExpression]) -> bool:
    return isinstance(node, cst.Name) and node.value == "True"
