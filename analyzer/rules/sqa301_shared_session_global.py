from __future__ import annotations

from typing import Optional

import libcst as cst

from .. import kinds as K
from ..rule import Rule


def _is_main_guard(node: cst.If) -> bool:
    test = node.test
    if isinstance(test, cst.Comparison) and isinstance(test.left, cst.Name) and test.left.value == "__name__":
        return True
    return False


class SharedSessionGlobal(Rule):
    code = "SQA301"
    name = "shared-session-global"
    message = "AsyncSession instance held at module level: every request shares it; create one per request"
    explain = """\
What it does: flags an AsyncSession instance (not a factory) created at module level, as a class
attribute, or assigned to a `global` name inside a function: `session = SessionLocal()`,
`db = AsyncSession(engine)`.

Why it breaks: an AsyncSession is one unit of work on one connection, not safe for concurrent use.
Shared by every request, two requests overlap on it and fail with
    sqlalchemy.exc.InvalidRequestError: This session is provisioning a new connection; concurrent
    operations are not permitted
(or "another operation is in progress" from asyncpg), objects from one request leak into the
next one's identity map, and one request's rollback discards another's work.

Instead: keep the factory global (`SessionLocal = async_sessionmaker(engine, expire_on_commit=False)`)
and open a session per request in a dependency: `async with SessionLocal() as session: yield session`.
"""
    valid = (
        """\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

async def get_db():
    async with SessionLocal() as session:
        yield session
""",
        """\
import aiohttp
import requests

http = requests.Session()  # an HTTP session, not a database session
client_session = None

async def startup():
    global client_session
    client_session = aiohttp.ClientSession()
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite:///./app.db")

class Repository:
    session: AsyncSession  # an annotation only: each instance gets its own
    factory = async_sessionmaker(engine, expire_on_commit=False)

    def __init__(self, session: AsyncSession):
        self.session = session
""",
        """\
import asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite:///./seed.db")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

async def seed(session):
    await session.commit()

if __name__ == "__main__":
    session = SessionLocal()  # a one-off script run, not shared by requests
    asyncio.run(seed(session))
""",
        """\
from asyncio import current_task
from sqlalchemy.ext.asyncio import async_scoped_session, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
# a registry handing each task its own session, not a session
Session = async_scoped_session(async_sessionmaker(engine, expire_on_commit=False), scopefunc=current_task)
""",
    )
    invalid = (
        """\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
session = SessionLocal()  # error: SQA301

async def list_users():
    return (await session.execute(select(User))).scalars().all()
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")

class UserService:
    db = AsyncSession(engine)  # error: SQA301

    async def get(self, user_id):
        return await self.db.get(User, user_id)
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
session: AsyncSession | None = None

async def startup():
    global session
    session = SessionLocal()  # error: SQA301
""",
    )

    def __init__(self, ctx):
        super().__init__(ctx)
        self._main_guards = 0

    def visit_If(self, node: cst.If) -> None:
        if _is_main_guard(node):
            self._main_guards += 1

    def leave_If(self, node: cst.If) -> None:
        if _is_main_guard(node):
            self._main_guards -= 1

    def visit_Assign(self, node: cst.Assign) -> None:
        names = [t.target.value for t in node.targets if isinstance(t.target, cst.Name)]
        if names:
            self._check(node.value, names)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None and isinstance(node.target, cst.Name):
            self._check(node.value, [node.target.value])

    def _check(self, value: cst.BaseExpression, names: list[str]) -> None:
        if not isinstance(value, cst.Call):
            return
        where = self._where(names)
        if where is None or self.ctx.kind(value) != K.ASYNC_SESSION:
            return
        self.report(value, f"AsyncSession instance held {where}: every request shares it; "
                           "keep the factory global and open a session per request")

    def _where(self, names: list[str]) -> Optional[str]:
        scope = self.ctx.scope
        if scope.kind == "module":
            return None if self._main_guards else "at module level"
        if scope.kind == "class":
            return "as a class attribute" if self._in_class_chain() else None
        if scope.kind == "function" and any(n in scope.globals_ for n in names):
            return "in a global"
        return None

    def _in_class_chain(self) -> bool:
        return all(s.kind in ("module", "class") for s in self.ctx.scopes)
