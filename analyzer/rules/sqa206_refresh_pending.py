from __future__ import annotations

from typing import Optional

import libcst as cst

from .. import kinds as K
from ..rule import Rule
from ..values import Value, dotted_name


class RefreshPending(Rule):
    code = "SQA206"
    name = "refresh-pending"
    message = ("`refresh()` of an object only added, not yet flushed: "
               "InvalidRequestError: Instance is not persistent within this Session")
    explain = """\
What it does: flags `await session.refresh(obj)` when, earlier in the same function, `obj` was
made from a project class (`obj = User(...)`) and handed to `session.add(obj)` / `add_all([...])`
on the same AsyncSession, with nothing awaited in between. That includes the seed-tutorial shape
where both happen inside `async with session.begin():` — the commit that block performs runs only
when the block exits, after the refresh. Any other `await` between the two (a flush, a commit, an
`execute` that autoflushes, a call that might do either) and the end of an `async with` block
clear the suspicion, as do objects that may already be persistent (parameters, query results).

Why it breaks: `add()` only makes the object pending; it gets a row (and becomes persistent) at the
next flush. `refresh()` does not autoflush first — it checks persistence and raises (verified with
SQLAlchemy 2.1 + aiosqlite, also inside `session.begin()`):
    sqlalchemy.exc.InvalidRequestError: Instance '<User at 0x...>' is not persistent within this Session
With autoflush on (the default), an awaited `execute()`, `get()`, or even the `refresh()` of
another, persistent object between `add` and `refresh` flushes the new object and the refresh then
works; an explicit `await session.flush()` or `commit()` always does.

Instead: `session.add(obj)`, then `await session.flush()` (inside `session.begin()`) or
`await session.commit()`, then `await session.refresh(obj)`; or refresh after the `async with
session.begin():` block has committed.
"""
    valid = (
        """\
from sqlalchemy.ext.asyncio import AsyncSession

async def create_user(db: AsyncSession, name: str):
    user = User(name=name)
    db.add(user)
    await db.commit()
    await db.refresh(user)
    return user
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession

async def create_user(session: AsyncSession, name: str):
    async with session.begin():
        user = User(name=name)
        session.add(user)
        await session.flush()
        await session.refresh(user)
    async with session.begin():
        other = User(name=name + "2")
        session.add(other)
    await session.refresh(other)  # begin() committed on exit
    return user, other
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession

async def rename(session: AsyncSession, user: User, name: str):
    user.name = name
    session.add(user)  # maybe already persistent: a parameter
    await session.refresh(user)

async def touch(session: AsyncSession, user_id: int):
    user = await session.get(User, user_id)
    session.add(user)
    await session.refresh(user)
""",
        """\
from sqlalchemy.orm import Session

def create_sync(session: Session, other_session, name: str):
    user = User(name=name)
    other_session.add(user)
    other_session.flush()
    session.refresh(user)  # not an AsyncSession: out of scope
""",
    )
    invalid = (
        """\
from fastapi import Depends, FastAPI
from sqlalchemy import Column, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import declarative_base

Base = declarative_base()
app = FastAPI()

class User(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True, index=True)
    name = Column(String, index=True)

@app.post("/users/")
async def create_user(user: UserCreate, session: AsyncSession = Depends(get_session)):
    async with session.begin():  # auto commit/rollback
        new_user = User(**user.model_dump())
        session.add(new_user)
        await session.refresh(new_user)  # error: SQA206
        return new_user
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

class Base(DeclarativeBase):
    pass

class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]

async def create_user(db: AsyncSession, name: str):
    db_user = User(name=name)
    db.add(db_user)
    await db.refresh(db_user)  # error: SQA206
    await db.commit()
    return db_user
""",
        """\
from sqlalchemy.ext.asyncio import async_sessionmaker

SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

class User(Base):
    __tablename__ = "users"

async def import_users(rows):
    async with SessionLocal() as session:
        first, second = User(name=rows[0]), User(name=rows[1])
        a = User(name="a")
        b = User(name="b")
        session.add_all([a, b])
        await session.refresh(b)  # error: SQA206
        await session.commit()
""",
    )

    def __init__(self, ctx):
        super().__init__(ctx)
        # per function: (session text, object name) -> the object's value when it was added
        self._pending: dict[cst.CSTNode, dict[tuple[str, str], Value]] = {}

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in ("add", "add_all") or not node.args:
            return
        function = self.ctx.function
        receiver = dotted_name(func.value)
        if function is None or receiver is None:
            return
        first = node.args[0].value
        if func.attr.value == "add":
            names = [first] if isinstance(first, cst.Name) else []
        elif isinstance(first, (cst.List, cst.Tuple)):
            names = [e.value for e in first.elements if isinstance(e.value, cst.Name)]
        else:
            names = []
        if not names or self.ctx.kind(func.value) != K.ASYNC_SESSION:
            return
        for name in names:
            value = self._new_instance(name)
            if value is not None:
                self._pending.setdefault(function.node, {})[(receiver, name.value)] = value

    def visit_Await(self, node: cst.Await) -> None:
        function = self.ctx.function
        pending = self._pending.get(function.node) if function is not None else None
        if not pending:
            return
        call = node.expression
        if (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                and call.func.attr.value == "refresh" and call.args and isinstance(call.args[0].value, cst.Name)):
            key = (dotted_name(call.func.value), call.args[0].value.value)
            if key in pending and self.ctx.value(call.args[0].value) == pending[key]:
                del pending[key]
                self.report(call, f"`{key[0]}.refresh({key[1]})` right after `{key[0]}.add({key[1]})` with no "
                                  f"flush or commit between: InvalidRequestError: Instance is not persistent "
                                  f"within this Session")
                return
        pending.clear()  # whatever was awaited may have flushed

    def visit_For(self, node: cst.For) -> None:
        if node.asynchronous is not None:
            self._clear()

    def leave_With(self, node: cst.With) -> None:
        if node.asynchronous is not None:
            self._clear()  # the exit was awaited: `session.begin()` commits there

    def _clear(self) -> None:
        function = self.ctx.function
        if function is not None and function.node in self._pending:
            self._pending[function.node].clear()

    def _new_instance(self, name: cst.Name) -> Optional[Value]:
        """The value of `name` when it is a freshly made instance of a project class (`User(...)`)."""
        value = self.ctx.value(name)
        func = getattr(value, "func", None)
        if func is not None and getattr(value, "args", None) is not None and self.ctx.index.class_(func) is not None:
            return value
        return None
