from __future__ import annotations

from typing import Optional

import libcst as cst

from .. import kinds as K
from ..rule import Rule
from ..session_class import SQLMODEL, session_class
from ..values import Attr, Awaited, Call, Ref

# AsyncSession methods that are plain (not coroutines), with the type of what they return.
SESSION_SYNC_METHODS = {
    "add": "NoneType", "add_all": "NoneType", "expunge": "NoneType", "expunge_all": "NoneType",
    "expire": "NoneType", "expire_all": "NoneType", "is_modified": "bool", "in_transaction": "bool",
    "get_bind": "Engine",
}
# Kinds of a result that is already fetched: every method on it is synchronous.
FETCHED_RESULTS = frozenset({"Result", "ScalarResult"})
# Methods of Result / ScalarResult that give another result object (a chain goes on through them).
_RESULT_CHAIN = {"scalars": "ScalarResult", "unique": None, "mappings": "MappingResult"}
# What the last method of the chain returns, as TypeError names it ("row" depends on the chain).
_RESULT_END = {
    "all": "list", "fetchall": "list", "fetchmany": "list", "first": "row", "one": "row",
    "one_or_none": "row", "fetchone": "row", "scalar": "value", "scalar_one": "value",
    "scalar_one_or_none": "value",
}


class AwaitOnSyncMethod(Rule):
    code = "SQA203"
    name = "await-on-sync-method"
    message = "`await` on a method that is not a coroutine"
    explain = """\
What it does: flags `await` applied to
  * a plain (non-coroutine) AsyncSession method: `add`, `add_all`, `expunge`, `expunge_all`,
    `expire`, `expire_all`, `is_modified`, `in_transaction`, `get_bind`;
  * a method of a result that an awaited `execute()` / `scalars()` (or SQLModel's `exec()`) already
    fetched (`Result`, `ScalarResult`): `all`, `first`, `one`, `one_or_none`, `scalar`, `scalar_one`,
    `scalar_one_or_none`, `scalars`, `mappings`, `unique`, `fetchall`, `fetchone`, `fetchmany`,
    also at the end of a chain (`await result.scalars().all()`).
An `AsyncResult` from `await session.stream(...)` is different: its `all()`, `first()`, ... are
coroutines and awaiting them is right, so it is not flagged.

Why it breaks: `await` needs an awaitable; these return plain values, so the line raises
(checked against SQLAlchemy 2.1):
    TypeError: object NoneType can't be used in 'await' expression      (await session.add(x))
    TypeError: object bool can't be used in 'await' expression          (await session.in_transaction())
    TypeError: object list can't be used in 'await' expression          (await result.scalars().all())
    TypeError: object ScalarResult can't be used in 'await' expression  (await result.scalars())
    TypeError: object Row can't be used in 'await' expression           (await result.first())
and for `scalar_one()` and friends the type named is that of the value (`object User ...`, or
`object NoneType ...` when nothing was found).

Instead: call them without `await`: `session.add(user)`,
`users = (await session.execute(select(User))).scalars().all()`, or
`users = (await session.scalars(select(User))).all()`.
"""
    valid = (
        """\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

async def create(session: AsyncSession, user):
    session.add(user)
    await session.commit()
    result = await session.execute(select(User))
    return result.scalars().all()
""",
        """\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

async def export(session: AsyncSession):
    stream = await session.stream(select(User))
    rows = await stream.all()  # AsyncResult: all() is a coroutine
    scalars = await session.stream_scalars(select(User))
    first = await scalars.first()
    return rows, first
""",
        """\
import aiohttp

async def fetch(url, queue):
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            items = await response.json()
    await queue.add(items)  # not an AsyncSession
    result = await queue.execute()
    return await result.all()  # nothing known about this result
""",
        """\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

async def names(session: AsyncSession):
    return (await session.scalars(select(User.name))).all()
""",
    )
    invalid = (
        """\
from sqlalchemy.ext.asyncio import AsyncSession

async def create_user(session: AsyncSession, user):
    await session.add(user)  # error: SQA203
    await session.commit()
    return user
""",
        """\
from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite:///./app.db")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()

async def get_db():
    async with SessionLocal() as session:
        yield session

@app.get("/users")
async def list_users(db: AsyncSession = Depends(get_db)):
    result = await db.execute(select(User))
    return await result.scalars().all()  # error: SQA203
""",
        """\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

async def get_user(session: AsyncSession, user_id: int):
    users = await session.scalars(select(User).where(User.id == user_id))
    return await users.one_or_none()  # error: SQA203

async def count(session: AsyncSession):
    return await (await session.execute(select(func.count(User.id)))).scalar_one()  # error: SQA203
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession

class Repo:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def forget(self, user):
        await self.session.expunge(user)  # error: SQA203
        if await self.session.in_transaction():  # error: SQA203
            await self.session.rollback()
""",
        """\
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

async def heroes(session: AsyncSession):
    result = await session.exec(select(Hero))
    return await result.all()  # error: SQA203
""",
    )

    def visit_Await(self, node: cst.Await) -> None:
        call = node.expression
        if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
            return
        method = call.func.attr.value
        receiver = call.func.value
        if method in SESSION_SYNC_METHODS:
            if self.ctx.kind(receiver) == K.ASYNC_SESSION:
                self._flag(call, f"AsyncSession.{method}()", SESSION_SYNC_METHODS[method])
            return
        if method in _RESULT_END or method in _RESULT_CHAIN:
            returned = self._fetched_chain(receiver, method)
            if returned is not None:
                self._flag(call, f".{method}() on an already fetched result", returned)

    def _fetched_chain(self, receiver: cst.BaseExpression, last: str) -> Optional[str]:
        """The type name `await` would complain about, when `receiver` is (a chain of sync calls on)
        a fetched Result / ScalarResult; None when the receiver is not known to be one."""
        chain = [last]
        while (isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Attribute)
               and receiver.func.attr.value in _RESULT_CHAIN):
            chain.append(receiver.func.attr.value)
            receiver = receiver.func.value
        value = self.ctx.value(receiver)
        kind = self.ctx.index.kind(value)
        if kind is None and self._sqlmodel_exec_result(value):
            kind = "Result"  # SQLModel's ScalarResult / TupleResult: the same sync methods
        if kind not in FETCHED_RESULTS:
            return None
        for method in reversed(chain):  # from the receiver outwards
            if method in _RESULT_CHAIN:
                kind = _RESULT_CHAIN[method] or kind
            else:
                end = _RESULT_END[method]
                if end == "row":
                    return {"Result": "Row", "MappingResult": "RowMapping"}.get(kind, "<the fetched object's type>")
                return "<the value's type>" if end == "value" else end
        return kind

    def _sqlmodel_exec_result(self, value) -> bool:
        """`await session.exec(...)` on SQLModel's AsyncSession (directly or through a name)."""
        if not isinstance(value, Awaited) or not isinstance(value.value, Call):
            return False
        func = value.value.func
        if isinstance(func, Attr) and func.name == "exec":
            session = func.base
        elif isinstance(func, Ref) and func.target.endswith(".exec"):
            session = Ref(func.target[:-len(".exec")], func.origin)
        else:
            return False
        index = self.ctx.index
        return index.kind(session) == K.ASYNC_SESSION and session_class(index, session) == SQLMODEL

    def _flag(self, call: cst.Call, what: str, returned: str) -> None:
        self.report(call, f"`await` on {what}, which is not a coroutine: "
                          f"TypeError: object {returned} can't be used in 'await' expression")
