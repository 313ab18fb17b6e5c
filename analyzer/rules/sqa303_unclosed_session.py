from __future__ import annotations

import libcst as cst

from .. import kinds as K
from ..flow_close import CLOSED_NOT_FINALLY, OPEN, session_fate
from ..rule import Rule


class UnclosedSession(Rule):
    code = "SQA303"
    name = "unclosed-session"
    message = "session created here is never closed: its connection leaks; use `async with factory() as session:`"
    explain = """\
What it does: flags an AsyncSession created in a function (`session = SessionLocal()`,
`AsyncSession(engine)`) that is neither used as `async with`, nor closed by `await session.close()`
in a `finally`, including a dependency that yields it without closing it afterwards. A session
that is returned, stored on an object or passed to another function belongs to someone else and
is not flagged; one closed only on the success path is (an exception skips the close).

Why it breaks: the session holds a pool connection from its first query until it is closed. Left
open, the connection is returned only when the garbage collector finds the session, with
    SAWarning: The garbage collector is trying to clean up non-checked-in connection ...
and under load the pool runs dry:
    sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed
    out, timeout 30.00

Instead: `async with SessionLocal() as session: ...` (also in a dependency:
`async with SessionLocal() as session: yield session`), or `try: ... finally: await session.close()`.
"""
    valid = (
        """\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

async def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        await db.close()

async def count_users():
    async with SessionLocal() as session:
        return await session.scalar(select(func.count(User.id)))
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite:///./app.db")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

def make_session() -> AsyncSession:
    session = SessionLocal()
    return session  # the caller owns it

class UnitOfWork:
    def __init__(self):
        self.session = SessionLocal()  # closed by the unit of work's __aexit__

async def run_job(job):
    session = SessionLocal()
    await job.run_with(session)  # handed on: its owner is elsewhere
""",
        """\
import aiohttp
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite:///./app.db")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

async def fetch(url):
    session = aiohttp.ClientSession()  # not a database session
    return await session.get(url)

async def purge():
    session = SessionLocal()
    async with session.begin():
        await session.execute(delete(Token))
    async with session:
        pass

async def rotate_keys():
    session = SessionLocal()
    try:
        await session.execute(update(ApiKey).values(rotated=True))
        await session.commit()
    except Exception:
        await session.rollback()
        await session.close()
        raise
    await session.close()  # closed on both paths
""",
    )
    invalid = (
        """\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

async def get_db():
    db = SessionLocal()  # error: SQA303
    yield db
""",
        """\
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
app = FastAPI()

@app.get("/users/{user_id}")
async def read_user(user_id: int):
    session = AsyncSession(engine)  # error: SQA303
    user = await session.get(User, user_id)
    return user
""",
        """\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

async def archive_orders():
    session = SessionLocal()  # error: SQA303
    await session.execute(update(Order).values(archived=True))
    await session.commit()
    await session.close()  # skipped when the update raises
""",
    )

    def __init__(self, ctx):
        super().__init__(ctx)
        self._created: list[dict[str, cst.BaseExpression]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._created.append({})

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        created = self._created.pop()
        for name, call in created.items():
            fate = session_fate(node, name)
            if fate == OPEN:
                self.report(call)
            elif fate == CLOSED_NOT_FINALLY:
                self.report(call, "session closed only on the success path: an exception before "
                                  "`close()` leaks its connection; use `async with` or close it in `finally`")

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            self._candidate(node.targets[0].target.value, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None and isinstance(node.target, cst.Name):
            self._candidate(node.target.value, node.value)

    def _candidate(self, name: str, value: cst.BaseExpression) -> None:
        ctx = self.ctx
        function = ctx.scope
        if (not self._created or not isinstance(value, cst.Call) or function.kind != "function"
                or name in function.globals_ or name in self._created[-1]):
            return
        if ctx.kind(value) == K.ASYNC_SESSION and not self._is_begin(value):
            self._created[-1][name] = value

    def _is_begin(self, value: cst.Call) -> bool:
        # `SessionLocal.begin()` is a context manager, not a session to close
        return isinstance(value.func, cst.Attribute) and value.func.attr.value == "begin"
