from __future__ import annotations

from typing import Optional

import libcst as cst

from .. import kinds as K
from ..rule import Rule
from ..facts import FuncInfo
from ..values import Attr, Call

_SYNC = (K.SYNC_SESSION, K.SYNC_CONNECTION)
# Methods of a sync Session / Connection that run SQL (or take a connection from the pool).
_IO_METHODS = frozenset({"query", "execute", "scalar", "scalars", "get", "get_one", "commit", "flush",
                         "refresh", "merge", "rollback", "exec", "exec_driver_sql", "connection"})
_PRIORITY = ("query", "execute", "scalars", "scalar", "get", "get_one", "exec", "exec_driver_sql", "commit",
             "flush", "refresh", "merge", "rollback", "connection")
# Calls that may open a sync session or connection: a factory, the Session class, engine methods.
_OPENERS = frozenset({"connect", "begin", "raw_connection"})


class SyncSessionInAsync(Rule):
    code = "SQA501"
    name = "sync-session-in-async"
    message = "a sync SQLAlchemy Session/Connection used in async code blocks the event loop"
    explain = """\
What it does: in the body of an `async def`, flags opening a sync ORM `Session` (a `sessionmaker`
factory call, `Session(engine)`), a sync `Engine.connect()` / `Engine.begin()`, and queries
(`query`, `execute`, `scalars`, `get`, `commit`, ...) on a sync Session or Connection that came from
elsewhere (a `Depends` parameter, an attribute).

Why it breaks: a sync driver does its network IO on the calling thread; in an `async def` that is
the event loop's thread, so every query stalls every other request for its whole duration. Nothing
raises: the app just stops being concurrent under load. With an async driver URL on a sync engine,
it fails outright with
    sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_only() here. Was IO attempted in an unexpected place?

Instead: use `create_async_engine` + `async_sessionmaker` and `await session.execute(select(...))`;
or keep the sync Session and make the route a plain `def` (FastAPI runs those in a thread pool), or
run the sync work with `await run_in_threadpool(fn)`.
"""
    valid = (
        """\
from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy import create_engine

engine = create_engine("postgresql+psycopg2://app@localhost/app")
SessionLocal = sessionmaker(bind=engine)
app = FastAPI()

def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()

@app.get("/users")
def list_users(db: Session = Depends(get_db)):
    return db.query(User).all()  # a sync route runs in the thread pool
""",
        """\
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy import create_engine

engine = create_engine("postgresql+psycopg2://app@localhost/app")
SessionLocal = sessionmaker(bind=engine)

def count_users():
    with SessionLocal() as db:
        return db.query(User).count()

async def handler():
    total = await run_in_threadpool(count_users)
    rows = await run_in_threadpool(lambda: SessionLocal().query(User).all())
    return total, rows
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

async def handler(session: AsyncSession):
    async with SessionLocal() as other:
        await other.execute(select(User))
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync_conn: sync_conn.execute(text("select 1")))
    return await session.execute(select(User))
""",
        """\
import requests

async def fetch():
    session = requests.Session()  # an HTTP session, not an ORM one (SQA502's business)
    return session
""",
    )
    invalid = (
        """\
from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy import create_engine

engine = create_engine("postgresql+psycopg2://app@localhost/app")
SessionLocal = sessionmaker(bind=engine)
app = FastAPI()

def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()

@app.get("/users")
async def list_users(db: Session = Depends(get_db)):
    return db.query(User).all()  # error: SQA501
""",
        """\
from sqlalchemy import create_engine, text

engine = create_engine("sqlite:///./app.db")

async def health():
    with engine.connect() as conn:  # error: SQA501
        conn.execute(text("select 1"))
""",
        """\
from sqlalchemy.orm import Session
from app.db import engine

async def create_item(name: str):
    with Session(engine) as session:  # error: SQA501
        session.add(Item(name=name))
        session.commit()
""",
        """\
from sqlalchemy.orm import Session

class UserRepo:
    def __init__(self, session: Session):
        self.session = session

    async def by_email(self, email):
        return self.session.execute(select(User).where(User.email == email)).scalar_one()  # error: SQA501
""",
    )

    def visit_Call(self, node: cst.Call) -> None:
        if not self.ctx.in_async:
            return
        func = node.func
        if not isinstance(func, cst.Attribute):
            self._opening(node)
            self._handed_over(node)
            return
        name = func.attr.value
        if name in _OPENERS:
            self._opening(node)
        elif name not in _IO_METHODS:
            self._handed_over(node)
        elif name in _IO_METHODS and self.ctx.kind(func.value) in _SYNC:
            if self._opened_here(func.value):
                return  # already reported where it was opened
            self.report(node, f"`.{name}()` on a sync SQLAlchemy {self._what(func.value)} in async code "
                              f"blocks the event loop; use AsyncSession or a sync `def` route")

    def _opening(self, node: cst.Call) -> None:
        if self.ctx.project_function(node.func) is not None:
            return  # its own body is checked where it is defined; a handed-over session below
        kind = self.ctx.kind(node)
        if kind not in _SYNC:
            return
        what = "Session" if kind == K.SYNC_SESSION else "Connection"
        self.report(node, f"a sync SQLAlchemy {what} opened in async code blocks the event loop on every "
                          f"query; use create_async_engine/async_sessionmaker or a sync `def` route")

    def _handed_over(self, node: cst.Call) -> None:
        """`crud.get_items(db)`: a project sync function that queries the sync Session it is given
        runs those queries on the event loop too."""
        if not node.args:
            return
        target = self.ctx.project_function(node.func)
        if target is None or target.is_async:
            return
        params = [name for name, _ in target.params]
        if params and params[0] in ("self", "cls"):
            params = params[1:]
        for position, arg in enumerate(node.args):
            if arg.star:
                return
            name = arg.keyword.value if arg.keyword is not None else (
                params[position] if position < len(params) else None)
            if name is None or not isinstance(arg.value, (cst.Name, cst.Attribute)):
                continue
            if self.ctx.kind(arg.value) not in _SYNC:
                continue
            method = _queries_param(target, name)
            if method is not None:
                self.report(node, f"`{target.name}()` runs `{name}.{method}()` on the sync SQLAlchemy "
                                  f"{self._what(arg.value)} passed here, on the event loop; use AsyncSession, "
                                  f"a sync `def` route, or `await run_in_threadpool({target.name}, ...)`")
                return

    def _opened_here(self, receiver: cst.BaseExpression) -> bool:
        value = self.ctx.value(receiver)
        return (isinstance(value, Call) and self.ctx.index.function(value.func) is None
                and self.ctx.index.kind(value) in _SYNC)

    def _what(self, receiver: cst.BaseExpression) -> str:
        return "Session" if self.ctx.kind(receiver) == K.SYNC_SESSION else "Connection"


def _queries_param(func: FuncInfo, name: str) -> Optional[str]:
    """The IO method `func` calls on its parameter `name` (`db.query(...)`), if any."""
    param = dict(func.params).get(name)
    if param is None:
        return None
    # `is`: the very binding of this parameter (another unannotated parameter compares equal)
    used = {c.name for c in func.calls if isinstance(c, Attr) and c.name in _IO_METHODS and c.base is param}
    return min(used, key=_PRIORITY.index) if used else None
