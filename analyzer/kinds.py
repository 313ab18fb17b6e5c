"""What the analyzer knows of the libraries: which qualified names are which kinds of things.

Kinds are plain strings: instance kinds ("AsyncSession"), class kinds ("type:AsyncSession"),
library functions ("fn:create_engine"), bound methods ("method:AsyncEngine.begin"), coroutines
that give a kind when awaited ("coro:Result").
"""
from __future__ import annotations

ASYNC_SESSION = "AsyncSession"
ASYNC_CONNECTION = "AsyncConnection"
ASYNC_ENGINE = "AsyncEngine"
ASYNC_FACTORY = "AsyncSessionFactory"
SYNC_SESSION = "SyncSession"
SYNC_CONNECTION = "SyncConnection"
SYNC_ENGINE = "SyncEngine"
SYNC_FACTORY = "SyncSessionFactory"

EXTERNAL: dict[str, str] = {}


def _add(kind: str, *names: str) -> None:
    for name in names:
        EXTERNAL[name] = kind


_add("type:AsyncSession", "sqlalchemy.ext.asyncio.AsyncSession", "sqlalchemy.ext.asyncio.session.AsyncSession")
# SQLModel's subclass adds `.exec()`: a class kind of its own, whose instances are plain AsyncSessions.
_add("type:SQLModelAsyncSession", "sqlmodel.ext.asyncio.session.AsyncSession", "sqlmodel.ext.asyncio.AsyncSession")
_add("type:AsyncConnection", "sqlalchemy.ext.asyncio.AsyncConnection", "sqlalchemy.ext.asyncio.engine.AsyncConnection")
_add("type:AsyncEngine", "sqlalchemy.ext.asyncio.AsyncEngine", "sqlalchemy.ext.asyncio.engine.AsyncEngine")
_add("type:Session", "sqlalchemy.orm.Session", "sqlalchemy.orm.session.Session", "sqlmodel.Session",
     "sqlmodel.orm.session.Session")
_add("type:Connection", "sqlalchemy.Connection", "sqlalchemy.engine.Connection", "sqlalchemy.engine.base.Connection")
_add("type:Engine", "sqlalchemy.Engine", "sqlalchemy.engine.Engine", "sqlalchemy.engine.base.Engine")
_add("fn:create_async_engine", "sqlalchemy.ext.asyncio.create_async_engine", "sqlalchemy.ext.asyncio.engine.create_async_engine")
_add("fn:async_engine_from_config", "sqlalchemy.ext.asyncio.async_engine_from_config",
     "sqlalchemy.ext.asyncio.engine.async_engine_from_config")
_add("fn:create_engine", "sqlalchemy.create_engine", "sqlalchemy.engine.create_engine",
     "sqlalchemy.engine.create.create_engine", "sqlmodel.create_engine")
_add("fn:engine_from_config", "sqlalchemy.engine_from_config", "sqlalchemy.engine.engine_from_config",
     "sqlalchemy.engine.create.engine_from_config")
_add("fn:async_sessionmaker", "sqlalchemy.ext.asyncio.async_sessionmaker", "sqlalchemy.ext.asyncio.session.async_sessionmaker")
_add("fn:sessionmaker", "sqlalchemy.orm.sessionmaker", "sqlalchemy.orm.session.sessionmaker")
_add("fn:Depends", "fastapi.Depends", "fastapi.params.Depends", "fastapi.param_functions.Depends")
_add("type:FastAPI", "fastapi.FastAPI", "fastapi.applications.FastAPI")
_add("type:APIRouter", "fastapi.APIRouter", "fastapi.routing.APIRouter")
_add("type:Starlette", "starlette.applications.Starlette")
_add("Annotated", "typing.Annotated", "typing_extensions.Annotated")
_add("Optional", "typing.Optional", "typing_extensions.Optional")
_add("type:Request", "fastapi.Request", "fastapi.requests.Request", "starlette.requests.Request")
_add("type:WebSocket", "fastapi.WebSocket", "fastapi.websockets.WebSocket", "starlette.websockets.WebSocket")
_add("type:HTTPConnection", "starlette.requests.HTTPConnection", "fastapi.requests.HTTPConnection")
_add("type:BackgroundTasks", "fastapi.BackgroundTasks", "fastapi.background.BackgroundTasks",
     "starlette.background.BackgroundTasks")

# Class kinds whose instances are AsyncSessions (compare against this, not "type:AsyncSession").
ASYNC_SESSION_CLASSES = frozenset({"type:AsyncSession", "type:SQLModelAsyncSession"})

# The kind an instance of a class kind has.
INSTANCE_OF = {
    "type:AsyncSession": ASYNC_SESSION,
    "type:SQLModelAsyncSession": ASYNC_SESSION,
    "type:AsyncConnection": ASYNC_CONNECTION,
    "type:AsyncEngine": ASYNC_ENGINE,
    "type:Session": SYNC_SESSION,
    "type:Connection": SYNC_CONNECTION,
    "type:Engine": SYNC_ENGINE,
    "fn:async_sessionmaker": ASYNC_FACTORY,  # as an annotation: async_sessionmaker[AsyncSession]
    "fn:sessionmaker": SYNC_FACTORY,
    "type:FastAPI": "FastAPI",
    "type:APIRouter": "APIRouter",
    "type:Starlette": "Starlette",
    "type:Request": "Request",
    "type:WebSocket": "WebSocket",
    "type:HTTPConnection": "HTTPConnection",
    "type:BackgroundTasks": "BackgroundTasks",
}

# What calling a kind gives (constructors, factories, library functions).
CALL_RESULT = {
    "fn:create_async_engine": ASYNC_ENGINE,
    "fn:async_engine_from_config": ASYNC_ENGINE,
    "fn:create_engine": SYNC_ENGINE,
    "fn:engine_from_config": SYNC_ENGINE,
    "fn:async_sessionmaker": ASYNC_FACTORY,
    "type:AsyncSession": ASYNC_SESSION,
    "type:SQLModelAsyncSession": ASYNC_SESSION,
    "type:Session": SYNC_SESSION,
    "type:AsyncEngine": ASYNC_ENGINE,
    "type:FastAPI": "FastAPI",
    "type:APIRouter": "APIRouter",
    "type:Starlette": "Starlette",
    ASYNC_FACTORY: ASYNC_SESSION,
    SYNC_FACTORY: SYNC_SESSION,
    "method:AsyncEngine.connect": ASYNC_CONNECTION,
    "method:AsyncEngine.begin": ASYNC_CONNECTION,
    "method:SyncEngine.connect": SYNC_CONNECTION,
    "method:SyncEngine.begin": SYNC_CONNECTION,
    "method:AsyncSessionFactory.begin": ASYNC_SESSION,
    "method:SyncSessionFactory.begin": SYNC_SESSION,
}

# Coroutine methods: calling them gives a coroutine; awaiting it gives the kind named here
# ("" where the awaited result is nothing the rules track).
ASYNC_SESSION_COROUTINES = {
    "execute": "Result", "scalar": "", "scalars": "ScalarResult", "get": "", "get_one": "",
    "commit": "", "rollback": "", "flush": "", "refresh": "", "delete": "", "merge": "", "close": "",
    "stream": "AsyncResult", "stream_scalars": "AsyncScalarResult", "run_sync": "", "connection": ASYNC_CONNECTION,
    "invalidate": "", "reset": "", "aclose": "",
}
ASYNC_CONNECTION_COROUTINES = {
    "execute": "Result", "scalar": "", "scalars": "ScalarResult", "commit": "", "rollback": "",
    "run_sync": "", "exec_driver_sql": "Result", "close": "", "stream": "AsyncResult",
    "stream_scalars": "AsyncScalarResult", "start": "", "invalidate": "", "get_raw_connection": "",
}
ASYNC_ENGINE_COROUTINES = {"dispose": ""}

COROUTINE_METHODS = {
    ASYNC_SESSION: ASYNC_SESSION_COROUTINES,
    ASYNC_CONNECTION: ASYNC_CONNECTION_COROUTINES,
    ASYNC_ENGINE: ASYNC_ENGINE_COROUTINES,
}


def attribute_kind(base: str, name: str) -> str | None:
    """The kind of `<value of kind base>.name`."""
    if base in COROUTINE_METHODS and name in COROUTINE_METHODS[base]:
        return f"asyncmethod:{base}.{name}"
    if base in (ASYNC_SESSION, ASYNC_CONNECTION, ASYNC_ENGINE, SYNC_SESSION, SYNC_CONNECTION,
                SYNC_ENGINE, ASYNC_FACTORY, SYNC_FACTORY, "FastAPI", "APIRouter", "Starlette"):
        if base == ASYNC_ENGINE and name == "sync_engine":
            return SYNC_ENGINE
        return f"method:{base}.{name}"
    return None


def call_kind(func_kind: str) -> str | None:
    if func_kind in CALL_RESULT:
        return CALL_RESULT[func_kind]
    if func_kind.startswith("asyncmethod:"):
        base, _, name = func_kind[len("asyncmethod:"):].partition(".")
        result = COROUTINE_METHODS[base][name]
        return f"coro:{result}"
    return None


ROUTE_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "trace", "api_route",
                           "route", "websocket"})


def is_route_decorator(kind: str | None) -> bool:
    """`@app.get(...)` / `@router.post(...)`: the kind of the decorator's callee."""
    if not kind or not kind.startswith("method:"):
        return False
    owner, _, name = kind[len("method:"):].partition(".")
    return owner in ("FastAPI", "APIRouter", "Starlette") and name in ROUTE_METHODS
