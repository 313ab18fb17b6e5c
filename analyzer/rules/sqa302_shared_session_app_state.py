from __future__ import annotations

from typing import Optional

import libcst as cst

from .. import kinds as K
from ..lifecycle import app_kind, first_param_name, is_lifespan
from ..rule import Rule

_CONNECTION_KINDS = ("Request", "WebSocket", "HTTPConnection")


class SharedSessionAppState(Rule):
    code = "SQA302"
    name = "shared-session-app-state"
    message = "AsyncSession instance stored in application state: every request shares it"
    explain = """\
What it does: flags an AsyncSession instance (not a factory or an engine) assigned to
`app.state.<name>` or `request.app.state.<name>`, or put in the state dict a lifespan yields
(`yield {"db": session}`).

Why it breaks: application state lives as long as the app and is shared by every request. One
AsyncSession is one connection and one unit of work, not safe for concurrent use: overlapping
requests fail with
    sqlalchemy.exc.InvalidRequestError: This session is provisioning a new connection; concurrent
    operations are not permitted
and one request's rollback or failed flush poisons the session for all others
("This Session's transaction has been rolled back due to a previous exception during flush").

Instead: keep the engine or the `async_sessionmaker` in app state (that is the right pattern) and
open a session per request in a dependency:
`async with request.app.state.sessionmaker() as session: yield session`.
"""
    valid = (
        """\
from contextlib import asynccontextmanager
from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
    app.state.engine = engine
    app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    yield
    await engine.dispose()

app = FastAPI(lifespan=lifespan)

async def get_db(request: Request):
    async with request.app.state.sessionmaker() as session:
        yield session
""",
        """\
from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite:///./app.db")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()

@app.middleware("http")
async def db_session_middleware(request: Request, call_next):
    async with SessionLocal() as session:
        request.state.db = session  # per request: request.state, not app.state
        return await call_next(request)
""",
        """\
from contextlib import asynccontextmanager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
    yield {"engine": engine, "sessionmaker": async_sessionmaker(engine, expire_on_commit=False)}
    await engine.dispose()

app = FastAPI(lifespan=lifespan)
""",
        """\
from contextlib import asynccontextmanager
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite:///./app.db")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

@asynccontextmanager
async def unit_of_work(job):
    async with SessionLocal() as session:
        job.state.session = session  # not an application: a job's own state
        yield {"session": session}
""",
    )
    invalid = (
        """\
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()

@app.on_event("startup")
async def startup():
    app.state.db = SessionLocal()  # error: SQA302
""",
        """\
from contextlib import asynccontextmanager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

@asynccontextmanager
async def lifespan(app):
    engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
    factory = async_sessionmaker(engine, expire_on_commit=False)
    async with factory() as session:
        yield {"db": session}  # error: SQA302

app = FastAPI(lifespan=lifespan)
""",
        """\
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

async def get_db(request: Request):
    if not hasattr(request.app.state, "db"):
        request.app.state.db = AsyncSession(request.app.state.engine)  # error: SQA302
    return request.app.state.db
""",
        """\
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

def create_app() -> FastAPI:
    async def lifespan(app):
        engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
        app.state.session = AsyncSession(engine)  # error: SQA302
        yield
    return FastAPI(lifespan=lifespan)
""",
    )

    def __init__(self, ctx):
        super().__init__(ctx)
        # one entry per enclosing function: its app parameter's name when it is a lifespan
        self._functions: list[tuple[cst.FunctionDef, Optional[bool]]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._functions.append((node, None))  # lifespan-ness is decided lazily (it costs a lookup)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._functions.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if self._is_app_state(target.target):
                if self.ctx.kind(node.value) == K.ASYNC_SESSION:
                    self.report(node.value)
                return

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None and self._is_app_state(node.target):
            if self.ctx.kind(node.value) == K.ASYNC_SESSION:
                self.report(node.value)

    def visit_Call(self, node: cst.Call) -> None:
        # setattr(app.state, "db", session)
        func = node.func
        if isinstance(func, cst.Name) and func.value == "setattr" and len(node.args) == 3:
            holder = node.args[0].value
            if (isinstance(holder, cst.Attribute) and holder.attr.value == "state"
                    and self._is_app_state(cst.Attribute(value=holder, attr=cst.Name("x")))
                    and self.ctx.kind(node.args[2].value) == K.ASYNC_SESSION):
                self.report(node.args[2].value)

    def visit_Yield(self, node: cst.Yield) -> None:
        value = node.value
        if not isinstance(value, cst.Dict) or not self._functions:
            return
        sessions = [e.value for e in value.elements
                    if isinstance(e, cst.DictElement) and self.ctx.kind(e.value) == K.ASYNC_SESSION]
        if sessions and self._in_lifespan():
            for session in sessions:
                self.report(session, "AsyncSession instance yielded in the lifespan state: every request "
                                     "shares it; yield the sessionmaker and open a session per request")

    def _is_app_state(self, target: cst.BaseExpression) -> bool:
        """`<app>.state.<name>` where <app> is known to be the application."""
        if not (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Attribute)
                and target.value.attr.value == "state"):
            return False
        owner = target.value.value
        if isinstance(owner, cst.Attribute) and owner.attr.value == "app":
            return self.ctx.kind(owner.value) in _CONNECTION_KINDS
        if app_kind(self.ctx.kind(owner)):
            return True
        if isinstance(owner, cst.Name) and self._functions:
            func = self._functions[-1][0]
            return owner.value == first_param_name(func) and self._in_lifespan()
        return False

    def _in_lifespan(self) -> bool:
        func, known = self._functions[-1]
        if known is None:
            module_level = len(self._functions) == 1 and self.ctx.function is not None \
                and len(self.ctx.scopes) == 2
            known = is_lifespan(self.ctx, func, module_level)
            self._functions[-1] = (func, known)
        return known
