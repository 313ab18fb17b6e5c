from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import libcst as cst

from .. import kinds as K
from ..lifecycle import coroutine_sessions, waits_for_collection
from ..rule import Rule
from ..traverse import children
from ..values import Call, Param, Ref, Subscript
from ..versions import pinned_fastapi

_BACKGROUND_TASK = ("starlette.background.BackgroundTask", "fastapi.background.BackgroundTask")
_SPAWN = ("asyncio.create_task", "asyncio.ensure_future", "asyncio.tasks.create_task", "asyncio.tasks.ensure_future")


@dataclass
class _Function:
    node: cst.FunctionDef
    scoped: Optional[frozenset[str]] = None  # request-scoped session parameters, found lazily
    spawned: list[tuple[cst.Call, str, Optional[str]]] = field(default_factory=list)  # (call, session, task name)
    awaited: set[str] = field(default_factory=set)  # names awaited or returned somewhere in the body
    waits: bool = False  # awaits asyncio.gather/wait: tasks kept in a list may be awaited there


class SessionOutlivesRequest(Rule):
    code = "SQA305"
    name = "session-outlives-request"
    message = "the request's session is handed to work that outlives the request"
    explain = """\
What it does: flags the request-scoped session (a parameter injected with `Depends`) handed to
work that outlives the request: a fire-and-forget `asyncio.create_task(...)` /
`asyncio.ensure_future(...)` (a task never awaited in the handler), and
`background_tasks.add_task(func, session)` or `Response(background=BackgroundTask(func, session))`
where the project pins FastAPI 0.106-0.117 (from its
pyproject, requirements or lock file): those versions close yield-dependencies before background
tasks run. From 0.118 FastAPI runs background tasks before closing dependencies, so `add_task` is
not flagged for open or newer constraints.

Why it breaks: when the response is sent, the dependency's `async with SessionLocal() as session`
exits and closes the session, while the task still uses it. The task then fails or, worse, works
on a session another request is now using:
    sqlalchemy.exc.InvalidRequestError: This session is provisioning a new connection; concurrent
    operations are not permitted
    sqlalchemy.exc.IllegalStateChangeError: Method 'close()' can't be called here; method
    '_connection_for_bind()' is already in progress
and on FastAPI 0.106-0.117 the background task meets a closed session whose objects are detached
("Instance <User> is not bound to a Session").

Instead: give the task what it needs as plain data (ids, values) and let it open its own session:
`async def send_receipt(order_id): async with SessionLocal() as session: ...`.
"""
    valid = (
        """\
import asyncio
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()

async def get_db():
    async with SessionLocal() as session:
        yield session

async def send_receipt(order_id: int):
    async with SessionLocal() as session:  # the task's own session
        order = await session.get(Order, order_id)

@app.post("/orders/{order_id}/pay")
async def pay(order_id: int, db: AsyncSession = Depends(get_db)):
    asyncio.create_task(send_receipt(order_id))
    await db.commit()
""",
        """\
import asyncio
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

app = FastAPI()

async def load_stats(session: AsyncSession):
    return await session.scalar(select(func.count(User.id)))

@app.get("/stats")
async def stats(db: AsyncSession = Depends(get_db)):
    task = asyncio.create_task(load_stats(db))  # awaited before the request ends
    return {"users": await task}
""",
        """\
from fastapi import BackgroundTasks, Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

app = FastAPI()

async def write_audit(session: AsyncSession, user_id: int):
    session.add(Audit(user_id=user_id))
    await session.commit()

@app.post("/users/{user_id}/touch")
async def touch(user_id: int, background_tasks: BackgroundTasks, db: AsyncSession = Depends(get_db)):
    # no FastAPI version pinned: 0.118+ closes the session only after background tasks ran
    background_tasks.add_task(write_audit, db, user_id)
""",
    )
    invalid = (
        """\
import asyncio
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()

async def get_db():
    async with SessionLocal() as session:
        yield session

async def log_view(session: AsyncSession, item_id: int):
    session.add(View(item_id=item_id))
    await session.commit()

@app.get("/items/{item_id}")
async def read_item(item_id: int, db: AsyncSession = Depends(get_db)):
    asyncio.create_task(log_view(db, item_id))  # error: SQA305
    return {"id": item_id}
""",
        """\
import asyncio
from typing import Annotated
from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

router = APIRouter()
SessionDep = Annotated[AsyncSession, Depends(get_db)]
background = set()

@router.post("/imports")
async def start_import(payload: dict, session: SessionDep):
    task = asyncio.ensure_future(session.execute(insert(Import).values(**payload)))  # error: SQA305
    background.add(task)
    task.add_done_callback(background.discard)
    return {"status": "started"}
""",
        """\
import asyncio
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from .database import get_db

async def refresh_cache(session: AsyncSession):
    await session.execute(select(Item))

async def get_cache(db: AsyncSession = Depends(get_db)):
    asyncio.create_task(refresh_cache(db))  # error: SQA305
    return CACHE
""",
    )

    def __init__(self, ctx):
        super().__init__(ctx)
        self._functions: list[_Function] = []
        self._assigning: list[Optional[str]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._functions.append(_Function(node))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        function = self._functions.pop()
        for call, key, name in function.spawned:
            if (name is None and not function.waits) or (name is not None and name not in function.awaited):
                self.report(call, f"the request's session `{key}` is handed to a task nobody awaits: the "
                                  "dependency closes it when the response is sent, while the task still uses it; "
                                  "pass ids and open a new session in the task")

    def visit_Assign(self, node: cst.Assign) -> None:
        # a task made anywhere in the assigned value (`tasks = [create_task(...) for ...]`) is kept by that name
        target = node.targets[0].target if len(node.targets) == 1 else None
        self._assigning.append(target.value if isinstance(target, cst.Name) else None)

    def leave_Assign(self, node: cst.Assign) -> None:
        self._assigning.pop()

    def visit_Await(self, node: cst.Await) -> None:
        if self._functions and self._functions[-1].spawned:
            function = self._functions[-1]
            function.awaited.update(_names_in(node.expression))
            if waits_for_collection(node.expression):
                function.waits = True

    def visit_Return(self, node: cst.Return) -> None:
        if self._functions and self._functions[-1].spawned and node.value is not None:
            self._functions[-1].awaited.update(_names_in(node.value))  # returned: the caller owns it

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, (cst.Attribute, cst.Name)) or not self._functions:
            return
        attr = func.attr.value if isinstance(func, cst.Attribute) else func.value
        if attr in ("create_task", "ensure_future"):
            if node.args and self.ctx.external_name(func) in _SPAWN:
                self._spawn(node)
        elif attr == "add_task" and isinstance(func, cst.Attribute):
            if self.ctx.kind(func.value) == "BackgroundTasks":
                self._background(node)
        elif attr == "BackgroundTask":  # `Response(background=BackgroundTask(func, db))` runs at the same time
            if self.ctx.external_name(func) in _BACKGROUND_TASK:
                self._background(node)

    def _spawn(self, node: cst.Call) -> None:
        function = self._functions[-1]
        if self.ctx.function is None or self.ctx.function.node is not function.node:
            return
        scoped = self._scoped(function)
        if not scoped:
            return
        name = self._assigning[-1] if self._assigning else None
        for key in coroutine_sessions(self.ctx, node.args[0].value):
            if key in scoped:
                function.spawned.append((node, key, name))
                return

    def _background(self, node: cst.Call) -> None:
        function = self._functions[-1]
        if self.ctx.function is None or self.ctx.function.node is not function.node:
            return
        scoped = self._scoped(function)
        given = [a.value.value for a in node.args[1:] if not a.star and isinstance(a.value, cst.Name)]
        keys = [k for k in given if k in scoped]
        if not keys:
            return
        pinned = pinned_fastapi(self.ctx.index.meta_for(self.ctx.path))
        if pinned is None:
            return
        self.report(node, f"the request's session `{keys[0]}` is handed to a background task, and the project "
                          f"pins {pinned}: FastAPI 0.106-0.117 close yield-dependencies before background tasks "
                          "run; pass ids and open a new session in the task (or upgrade to FastAPI 0.118+)")

    def _scoped(self, function: _Function) -> frozenset[str]:
        """The function's parameters that are sessions FastAPI injects for this request."""
        if function.scoped is None:
            ctx = self.ctx
            route = ctx.is_route_handler(function.node)
            scope = ctx.function
            names = set()
            for name, value in scope.bindings.items() if scope else ():
                if not isinstance(value, Param) or ctx.index.kind(value) != K.ASYNC_SESSION:
                    continue
                if route or self._has_depends(value):
                    names.add(name)
            function.scoped = frozenset(names)
        return function.scoped

    def _has_depends(self, param: Param) -> bool:
        index = self.ctx.index
        if isinstance(param.default, Call) and index.kind(param.default.func) == "fn:Depends":
            return True
        annotation = param.annotation
        if isinstance(annotation, Ref):  # a type alias: `SessionDep = Annotated[AsyncSession, Depends(...)]`
            resolved = index.resolve(annotation)
            annotation = resolved.symbol if not resolved.attrs else None
        if isinstance(annotation, Subscript) and index.kind(annotation.base) == "Annotated":
            return any(isinstance(extra, Call) and index.kind(extra.func) == "fn:Depends"
                       for extra in annotation.items[1:])
        return False



def _names_in(expr: cst.BaseExpression) -> set[str]:
    out = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            out.add(node.value)
        elif not isinstance(node, (cst.Lambda, cst.FunctionDef)):
            stack.extend(children(node))
    return out
