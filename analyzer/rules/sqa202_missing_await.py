from __future__ import annotations

import libcst as cst

from ..coroutines import COROUTINE_ATTRS, call_text, coroutine_call, misuse_of_name
from ..rule import Rule


class MissingAwait(Rule):
    code = "SQA202"
    name = "missing-await"
    message = "coroutine never awaited"
    explain = """\
What it does: flags a call that makes a coroutine and is not awaited: an AsyncSession coroutine
method (`execute`, `scalars`, `get`, `commit`, `refresh`, `delete`, `close`, ..., and `exec` on
SQLModel's AsyncSession), an AsyncConnection one, `AsyncEngine.dispose()`, or one of the project's
own plain `async def` functions or methods
(also imported from another module, or called as `self.method()` / `repo.method()` where the class
is known) when its result is
  * dropped (the call is a statement of its own),
  * used as if it were the result (`session.execute(q).scalars()`, `for u in session.scalars(q)`,
    `if session.get(User, id)`), directly or through a name it was stored in,
  * stored in a name that is never used again, or
  * returned from an `async def` (the caller's single `await` then gives back a coroutine).
Handing the coroutine to `asyncio.gather`, `create_task`, `wait_for`, a TaskGroup, `asyncio.run`
(or any other call), awaiting it later (`coro = session.commit(); await coro`), or returning it
from a plain `def` (a factory of coroutines) is fine. Async generators and functions behind
decorators the analyzer does not know are left alone.

Why it breaks: the work never happens. A dropped `session.commit()` commits nothing, and Python only
warns when the coroutine is garbage-collected:
    RuntimeWarning: coroutine 'AsyncSession.commit' was never awaited
Using the coroutine as its result fails on the spot:
    AttributeError: 'coroutine' object has no attribute 'scalars'
    TypeError: 'coroutine' object is not iterable
and `if session.get(User, user_id):` is always true (a coroutine object is truthy), so the
not-found branch never runs.

Instead: `await` the call (`result = await session.execute(q)`), or hand the coroutine to
`asyncio.gather(...)` / `asyncio.create_task(...)` when it is meant to run concurrently.
"""
    valid = (
        """\
import asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

async def create_user(session: AsyncSession, user):
    session.add(user)
    await session.commit()
    result = await session.execute(select(User))
    pending = session.refresh(user)  # stored now, awaited below
    await pending
    return result.scalars().all()
""",
        """\
import asyncio
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app")

async def notify(user_id: int) -> None:
    ...

async def main(user_ids):
    await asyncio.gather(*(notify(i) for i in user_ids))
    task = asyncio.create_task(notify(0))
    await asyncio.wait_for(engine.dispose(), timeout=5)
    await task

def run():
    asyncio.run(main([1, 2]))

def later(user_id):
    return notify(user_id)  # a plain def handing out the coroutine: its caller awaits it
""",
        """\
import aiohttp
from contextlib import asynccontextmanager

@asynccontextmanager
async def lifespan(app):
    yield

async def stream_rows(session):
    yield 1

async def fetch(url):
    async with aiohttp.ClientSession() as session:
        session.get(url)  # not an SQLAlchemy session: nothing is known about it
    rows = stream_rows(None)  # an async generator: calling it without await is right
    async for row in rows:
        print(row)
    lifespan(None)
""",
        """\
import functools

def retry(func):
    @functools.wraps(func)
    def wrapper(*args):
        return func(*args)
    return wrapper

@retry
async def save(session, obj):
    await session.commit()

def handler(session, obj):
    save(session, obj)  # behind an unknown decorator: the analyzer cannot tell what the call gives
""",
        """\
class Connection:
    async def _connect(self):
        return self

    def __await__(self):
        return self._connect().__await__()  # delegating to the coroutine's own protocol


async def auth_flow(request):
    while True:
        response = yield request  # an async generator, though no `yield` stands alone
        request = response


async def send(request):
    flow = auth_flow(request)
    request = await flow.__anext__()
    return request
""",
    )
    invalid = (
        """\
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite:///./app.db")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()

async def get_db():
    async with SessionLocal() as session:
        yield session

@app.post("/users")
async def create_user(name: str, db: AsyncSession = Depends(get_db)):
    user = User(name=name)
    db.add(user)
    db.commit()  # error: SQA202
    return user
""",
        """\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

async def list_users(session: AsyncSession):
    result = session.execute(select(User))  # error: SQA202
    return result.scalars().all()

async def first_user(session: AsyncSession):
    return session.execute(select(User)).scalars().first()  # error: SQA202

async def get_user(session: AsyncSession, user_id: int):
    return session.get(User, user_id)  # error: SQA202
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession

class UserRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def save(self, user):
        self.session.add(user)
        await self.session.flush()

    async def register(self, user):
        self.save(user)  # error: SQA202
        await self.session.commit()

async def signup(session: AsyncSession, user):
    repo = UserRepository(session)
    repo.save(user)  # error: SQA202
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession

async def delete_user(session: AsyncSession, user_id: int):
    user = session.get(User, user_id)  # error: SQA202
    if not user:
        return None
    await session.delete(user)
""",
        """\
from fastapi import Depends
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

async def read_heroes(session: AsyncSession = Depends(get_session)):
    return session.exec(select(Hero)).all()  # error: SQA202
""",
    )

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        if isinstance(value, cst.Call):
            what = coroutine_call(self.ctx, value)
            if what is not None:
                self.report(value, f"`{call_text(value)}` is never awaited ({what}): "
                                   "its work does not happen")

    def visit_Return(self, node: cst.Return) -> None:
        value = node.value
        if isinstance(value, cst.Call) and self.ctx.in_async:
            what = coroutine_call(self.ctx, value)
            if what is not None:
                self.report(value, f"`{call_text(value)}` returned from an async def without `await`: "
                                   "the caller's `await` gives back a coroutine, not its result")

    def visit_Attribute(self, node: cst.Attribute) -> None:
        value = node.value
        if isinstance(value, cst.Call) and node.attr.value not in COROUTINE_ATTRS and self._coroutine(value):
            attr = node.attr.value
            self.report(value, f"`{call_text(value)}` is not awaited before `.{attr}`: "
                               f"'coroutine' object has no attribute '{attr}'")

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if isinstance(node.value, cst.Call) and self._coroutine(node.value):
            self.report(node.value, f"`{call_text(node.value)}` is not awaited before indexing: "
                                    "'coroutine' object is not subscriptable")

    def visit_For(self, node: cst.For) -> None:
        if isinstance(node.iter, cst.Call) and self._coroutine(node.iter):
            self.report(node.iter, f"`{call_text(node.iter)}` is iterated without `await`: "
                                   "'coroutine' object is not iterable")

    def visit_If(self, node: cst.If) -> None:
        self._truth_test(node.test)

    def visit_While(self, node: cst.While) -> None:
        self._truth_test(node.test)

    def visit_UnaryOperation(self, node: cst.UnaryOperation) -> None:
        if isinstance(node.operator, cst.Not):
            self._truth_test(node.expression)

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if not isinstance(value, cst.Call) or len(node.targets) != 1:
            return
        target = node.targets[0].target
        function = self.ctx.function
        if not isinstance(target, cst.Name) or function is None or self.ctx.scope is not function:
            return
        what = coroutine_call(self.ctx, value)
        if what is None:
            return
        misuse = misuse_of_name(function.node, target.value, target, function.is_async)
        if misuse is None:
            return
        if misuse:
            self.report(value, f"`{call_text(value)}` is stored in `{target.value}` without `await`, "
                               f"then used as its result: {misuse}")
        else:
            self.report(value, f"`{call_text(value)}` is stored in `{target.value}` and never awaited "
                               f"({what}): its work does not happen")

    def _truth_test(self, test: cst.BaseExpression) -> None:
        if isinstance(test, cst.Call) and self._coroutine(test):
            self.report(test, f"`{call_text(test)}` is tested without `await`: a coroutine is always true")

    def _coroutine(self, call: cst.Call) -> bool:
        return coroutine_call(self.ctx, call) is not None
