from __future__ import annotations

import libcst as cst

from .. import kinds as K
from ..rule import Rule
from ..session_class import SQLALCHEMY, session_class


class QueryOnAsyncSession(Rule):
    code = "SQA201"
    name = "query-on-async-session"
    message = "`.query()` does not exist on AsyncSession; use `await session.execute(select(...))`"
    explain = """\
What it does: flags `.query(...)` called on a value known to be an AsyncSession (annotated
`AsyncSession`, injected by a dependency that yields one, or made by an `async_sessionmaker`);
likewise SQLModel's `.exec(...)` called on SQLAlchemy's own AsyncSession (the value traced back to
`sqlalchemy.ext.asyncio.AsyncSession`, or to a factory without a SQLModel `class_`).

Why it breaks: the legacy Query API is not part of AsyncSession. The call fails at runtime with
    AttributeError: 'AsyncSession' object has no attribute 'query'
and code copied from sync tutorials fails only when the route is first hit. `.exec()` exists only
on SQLModel's subclass (`sqlmodel.ext.asyncio.session.AsyncSession`); on SQLAlchemy's it fails with
    AttributeError: 'AsyncSession' object has no attribute 'exec'

Instead: build a `select()` and await it: `(await session.execute(select(User))).scalars().all()`
or `await session.scalars(select(User))`; for `.exec()`, import `AsyncSession` from
`sqlmodel.ext.asyncio.session` (and pass it as the factory's `class_`).
"""
    valid = (
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
    return result.scalars().all()
""",
        """\
import aiohttp

async def fetch(url):
    async with aiohttp.ClientSession() as session:
        query = session.query  # a ClientSession is not an AsyncSession
        async with session.get(url) as response:
            return await response.json()
""",
        """\
from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy import create_engine

engine = create_engine("sqlite:///./app.db")
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
    return db.query(User).all()  # sync Session in a sync route: fine
""",
        """\
import requests

def search(term):
    session = requests.Session()
    return session.query(term)
""",
        """\
from fastapi import Depends
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlalchemy.ext.asyncio import async_sessionmaker

SessionLocal = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

async def get_session():
    async with SessionLocal() as session:
        yield session

async def heroes(session: AsyncSession = Depends(get_session)):
    return (await session.exec(select(Hero))).all()  # SQLModel's AsyncSession has exec()

async def first_hero():
    async with SessionLocal() as session:
        return (await session.exec(select(Hero))).first()
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

@app.get("/users")
async def list_users(db: AsyncSession = Depends(get_db)):
    return db.query(User).all()  # error: SQA201
""",
        """\
from typing import Annotated
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession as AS

SessionDep = Annotated[AS, Depends(get_db)]

async def count_users(session: SessionDep) -> int:
    return session.query(User).count()  # error: SQA201
""",
        """\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
make_session = async_sessionmaker(engine)

async def report():
    async with make_session() as s:
        rows = s.query(Order).filter(Order.total > 100).all()  # error: SQA201
    return rows
""",
        """\
from sqlalchemy.ext.asyncio import AsyncSession

class UserRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def all(self):
        return self.session.query(User).all()  # error: SQA201
""",
        """\
from fastapi import Depends
from sqlmodel import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

async def get_session():
    async with SessionLocal() as session:
        yield session

async def heroes(session: AsyncSession = Depends(get_session)):
    return (await session.exec(select(Hero))).all()  # error: SQA201

async def villains():
    async with SessionLocal() as session:
        return (await session.exec(select(Villain))).all()  # error: SQA201
""",
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute):
            return
        method = func.attr.value
        if method == "query":
            if self.ctx.kind(func.value) == K.ASYNC_SESSION:
                self.report(node)
        elif method == "exec":
            value = self.ctx.value(func.value)
            if self.ctx.index.kind(value) == K.ASYNC_SESSION and session_class(self.ctx.index, value) == SQLALCHEMY:
                self.report(node, "`.exec()` is SQLModel's: SQLAlchemy's AsyncSession has no `exec`; use "
                                  "`await session.execute(...)` or SQLModel's AsyncSession")
