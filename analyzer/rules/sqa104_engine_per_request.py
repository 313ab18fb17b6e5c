from __future__ import annotations

from typing import Optional

import libcst as cst

from ..dependencies import dependency_functions
from ..engines import ASYNC_ENGINE_FUNCTIONS, SYNC_ENGINE_FUNCTIONS, call_names, callee_name
from ..facts import ClassInfo, FuncInfo
from ..rule import Rule

_NAMES = ("create_engine", "create_async_engine", "engine_from_config", "async_engine_from_config")
_ENGINE_FUNCTIONS = SYNC_ENGINE_FUNCTIONS | ASYNC_ENGINE_FUNCTIONS
# A cached factory runs once, not per request.
_CACHES = frozenset({"functools.lru_cache", "functools.cache", "async_lru.alru_cache", "cachetools.cached",
                     "cachetools.func.lru_cache", "cachetools.func.ttl_cache"})


class EnginePerRequest(Rule):
    code = "SQA104"
    name = "engine-per-request"
    message = "engine created inside a route handler or dependency: a new connection pool on every request; create it once"
    detail = "`{}()` inside a {}: a new engine and connection pool on every request; create it once at module level"
    explain = """\
What it does: flags `create_engine` / `create_async_engine` (and the `*_from_config` forms) called
inside a route handler, or inside a function FastAPI calls per request as a dependency
(`Depends(f)`, `Annotated[..., Depends(f)]`, a dependency class's `__init__`/`__call__`). An
engine stored in a `global`, on an attribute (`app.state.engine = ...`), or made by an
`lru_cache`d function is created once and is not flagged.

Why it breaks: an engine owns a connection pool. One per request means a fresh TCP connection and
authentication for every request, pools that are never reused, and connections left open until the
engine is garbage collected; under load the database runs out of connections
("FATAL: sorry, too many clients already", "QueuePool limit ... overflow ... reached").

Instead: create the engine and the session factory once, at module level or in the app's lifespan,
and let the dependency open a session from the factory:
`async with SessionLocal() as session: yield session`.
"""
    valid = (
        """\
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()


async def get_db():
    async with SessionLocal() as session:
        yield session


@app.get("/users")
async def users(db: AsyncSession = Depends(get_db)):
    return []
""",
        """\
from functools import lru_cache
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

app = FastAPI()


@lru_cache
def get_engine() -> AsyncEngine:
    return create_async_engine("postgresql+asyncpg://app@db/app")


@app.get("/ping")
async def ping(engine: AsyncEngine = Depends(get_engine)):
    return {"ok": True}
""",
        """\
from contextlib import asynccontextmanager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.engine = create_async_engine("postgresql+asyncpg://app@db/app")
    yield
    await app.state.engine.dispose()


app = FastAPI(lifespan=lifespan)
""",
        """\
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

app = FastAPI()
_engine = None


def get_engine():
    global _engine
    if _engine is None:
        _engine = create_async_engine("postgresql+asyncpg://app@db/app")
    return _engine


@app.get("/ping")
async def ping(engine=Depends(get_engine)):
    return {"ok": True}
""",
    )
    invalid = (
        """\
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

app = FastAPI()


@app.get("/reports/{name}")
async def report(name: str):
    engine = create_async_engine("postgresql+asyncpg://app@db/reports")  # error: SQA104
    async with engine.connect() as conn:
        return (await conn.execute(text("select 1"))).all()
""",
        """\
from typing import Annotated
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

app = FastAPI()


async def get_db():
    engine = create_async_engine("sqlite+aiosqlite:///./app.db")  # error: SQA104
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session
    await engine.dispose()


SessionDep = Annotated[AsyncSession, Depends(get_db)]


@app.get("/items")
async def items(db: SessionDep):
    return []
""",
        """\
# file: app/deps.py
from sqlalchemy import create_engine
from sqlalchemy.orm import Session


class TenantDB:
    def __init__(self, tenant: str):
        self.engine = create_engine(f"postgresql+psycopg2://app@db/{tenant}")  # error: SQA104
        self.session = Session(self.engine)
# file: app/routes.py
from fastapi import APIRouter, Depends
from app.deps import TenantDB

router = APIRouter()


@router.get("/orders")
def orders(db: TenantDB = Depends()):
    return []
""",
    )

    _names = None

    def __init__(self, ctx):
        super().__init__(ctx)
        # enclosing defs, with the scope they were defined in; judged only once an engine call is seen
        self._defs: list[tuple[cst.FunctionDef, object, int]] = []
        self._judged: dict[int, str] = {}
        self._once: set[int] = set()  # engine calls whose result is stored for later requests

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._defs.append((node, self.ctx.scope, len(self.ctx.scopes)))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._defs.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        if self._defs and isinstance(node.value, (cst.Call, cst.BooleanOperation)):
            globals_ = self.ctx.scope.globals_
            for target in node.targets:
                t = target.target
                if isinstance(t, cst.Attribute) and not _is_local_self(t, self.ctx) or \
                        isinstance(t, cst.Name) and t.value in globals_:
                    self._once.add(id(node.value))
                    if isinstance(node.value, cst.BooleanOperation):  # `_engine = _engine or create_engine(...)`
                        self._once.add(id(node.value.right))

    def visit_Call(self, node: cst.Call) -> None:
        if not self._defs:
            return
        if self._names is None:
            self._names = call_names(self.ctx.facts, _NAMES)
        if callee_name(node.func) not in self._names or id(node) in self._once:
            return
        kind = self.ctx.kind(node.func)
        if kind not in _ENGINE_FUNCTIONS:
            return
        for definition in reversed(self._defs):
            where = self._judged.get(id(definition[0]))
            if where is None:
                where = self._judged[id(definition[0])] = self._runs_per_request(*definition)
            if where:
                self.report(node, self.detail.format(kind[3:], where))
                return

    def _runs_per_request(self, node: cst.FunctionDef, scope, depth: int) -> str:
        if self._is_cached(node):
            return ""
        if self.ctx.is_route_handler(node):
            return "route handler"
        info = self._func_info(node, scope, depth)
        return "dependency" if info is not None and id(info) in dependency_functions(self.ctx.index) else ""

    def _is_cached(self, node: cst.FunctionDef) -> bool:
        for decorator in node.decorators:
            expr = decorator.decorator
            if isinstance(expr, cst.Call):
                expr = expr.func
            if self.ctx.external_name(expr) in _CACHES:
                return True
        return False

    def _func_info(self, node: cst.FunctionDef, scope, depth: int) -> Optional[FuncInfo]:
        if scope.kind == "module":
            symbol = self.ctx.facts.symbols.get(node.name.value)
            return symbol if isinstance(symbol, FuncInfo) else None
        if scope.kind == "class" and depth == 2 and isinstance(scope.node, cst.ClassDef):
            cls = self.ctx.facts.symbols.get(scope.node.name.value)
            if isinstance(cls, ClassInfo):
                return cls.methods.get(node.name.value)
        return None


def _is_local_self(target: cst.Attribute, ctx) -> bool:
    """`self.engine = ...` in a dependency class's __init__ is per request: the instance is."""
    base = target.value
    function = ctx.function
    return isinstance(base, cst.Name) and function is not None and base.value == function.self_name
