from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import libcst as cst

from ..lifecycle import coroutine_sessions, session_key, waits_for_collection
from ..rule import Rule
from ..traverse import children

_GATHER = ("asyncio.gather",)
_SPAWN = ("asyncio.create_task", "asyncio.ensure_future", "asyncio.tasks.create_task", "asyncio.tasks.ensure_future")
_TASK_GROUP = ("asyncio.TaskGroup", "asyncio.taskgroups.TaskGroup", "anyio.create_task_group")


@dataclass
class _Task:
    key: str
    name: Optional[str]  # the variable the task was assigned to, when it was
    branch: tuple  # the if/else arms it was created in
    node: cst.Call


@dataclass
class _Function:
    loops: int = 0
    branch: list = field(default_factory=list)
    pending: list[_Task] = field(default_factory=list)  # tasks that may still be running


@dataclass
class _Group:
    name: str
    loops: int  # loop depth where the group was opened
    uses: dict[str, int] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)


class ConcurrentSessionUse(Rule):
    code = "SQA304"
    name = "concurrent-session-use"
    message = "one AsyncSession used by concurrent coroutines: an AsyncSession is not safe for concurrent use"
    explain = """\
What it does: flags one AsyncSession used by work that runs at the same time: two of its
coroutines (`session.execute(...)`, or project `async def` functions given the session) in one
`asyncio.gather(...)`, a gather over a comprehension of them, two `TaskGroup` tasks given the
same session, or an `asyncio.create_task` given the session while the function keeps using it
before awaiting the task.

Why it breaks: an AsyncSession wraps one connection and one transaction; it must be used by one
task at a time. With asyncpg the second operation fails with
    sqlalchemy.exc.InvalidRequestError: This session is provisioning a new connection; concurrent
    operations are not permitted
or "asyncpg.exceptions._base.InterfaceError: cannot perform operation: another operation is in
progress"; with aiosqlite other errors or silently interleaved state.

Instead: await the queries one after the other on one session, or give each concurrent task its
own session: `async def load(q): async with SessionLocal() as s: return await s.execute(q)`.
"""
    valid = (
        """\
import asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

async def count(model):
    async with SessionLocal() as session:  # one session per concurrent task
        return await session.scalar(select(func.count()).select_from(model))

async def dashboard(db: AsyncSession):
    users, orders = await asyncio.gather(count(User), count(Order))
    latest = await db.execute(select(Order).limit(5))
    return users, orders, latest
""",
        """\
import asyncio
import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession

async def crawl(urls, db: AsyncSession):
    async with aiohttp.ClientSession() as session:  # an HTTP session is fine to share
        pages = await asyncio.gather(session.get(urls[0]), session.get(urls[1]))
    users = await db.execute(select(User))
    orders = await db.execute(select(Order))
    return pages, users, orders
""",
        """\
import asyncio
from sqlalchemy.ext.asyncio import AsyncSession

async def refresh_all(db: AsyncSession, other: AsyncSession, flag: bool):
    await asyncio.gather(db.execute(select(User)), other.execute(select(User)))  # two sessions
    task = asyncio.create_task(db.execute(select(Order)))
    await task
    await db.commit()  # the task is finished by now
    if flag:
        asyncio.create_task(audit(db))
    else:
        asyncio.create_task(audit(db))

async def audit(session: AsyncSession):
    await session.execute(insert(AuditLog))
""",
    )
    invalid = (
        """\
import asyncio
from sqlalchemy.ext.asyncio import AsyncSession

async def dashboard(db: AsyncSession):
    users, orders = await asyncio.gather(  # error: SQA304
        db.execute(select(User)),
        db.execute(select(Order)),
    )
    return users, orders
""",
        """\
import asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@localhost/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

async def get_user(session: AsyncSession, user_id: int):
    return await session.get(User, user_id)

async def load_many(ids):
    async with SessionLocal() as session:
        return await asyncio.gather(*[get_user(session, i) for i in ids])  # error: SQA304
""",
        """\
import asyncio
from sqlalchemy.ext.asyncio import AsyncSession

async def sync_accounts(session: AsyncSession, accounts):
    async with asyncio.TaskGroup() as tg:
        for account in accounts:
            tg.create_task(refresh(session, account))  # error: SQA304

async def refresh(session: AsyncSession, account):
    await session.merge(account)
""",
        """\
import asyncio
from sqlalchemy.ext.asyncio import AsyncSession

async def record_login(session: AsyncSession, user):
    session.add(LoginEvent(user_id=user.id))
    await session.flush()

async def login(session: AsyncSession, user):
    task = asyncio.create_task(record_login(session, user))
    user.last_seen = await session.scalar(select(func.now()))  # error: SQA304
    await task
""",
    )

    def __init__(self, ctx):
        super().__init__(ctx)
        self._functions: list[_Function] = []
        self._groups: list[_Group] = []
        self._assigning: list[Optional[str]] = []
        self._comprehensions = 0
        self._arms: set[int] = set()

    # ---- structure ---------------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._functions.append(_Function())

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._functions.pop()

    def visit_For(self, node) -> None:
        if self._functions:
            self._functions[-1].loops += 1

    def leave_For(self, node) -> None:
        if self._functions:
            self._functions[-1].loops -= 1

    visit_While = visit_For
    leave_While = leave_For

    def visit_If(self, node: cst.If) -> None:
        # each arm of an if/elif/else is a branch of its own: a task made in one arm does not
        # overlap work done in another
        if self._functions:
            self._arms.add(id(node.body))
            if isinstance(node.orelse, cst.Else):
                self._arms.add(id(node.orelse.body))

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        if id(node) in self._arms:
            self._functions[-1].branch.append(id(node))

    def leave_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        if id(node) in self._arms:
            self._arms.discard(id(node))
            self._functions[-1].branch.pop()

    def visit_With(self, node: cst.With) -> None:
        if node.asynchronous is None or not self._functions:
            return
        for item in node.items:
            expr = item.item
            if (isinstance(expr, cst.Call) and item.asname is not None and isinstance(item.asname.name, cst.Name)
                    and self.ctx.external_name(expr.func) in _TASK_GROUP):
                self._groups.append(_Group(item.asname.name.value, self._functions[-1].loops))
                return
        self._groups.append(None)

    def leave_With(self, node: cst.With) -> None:
        if node.asynchronous is not None and self._functions:
            self._groups.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        # a task made anywhere in the assigned value (`tasks = [create_task(...) for ...]`) is kept by that name
        target = node.targets[0].target if len(node.targets) == 1 else None
        self._assigning.append(target.value if isinstance(target, cst.Name) else None)

    def leave_Assign(self, node: cst.Assign) -> None:
        self._assigning.pop()

    def visit_ListComp(self, node) -> None:
        self._comprehensions += 1

    def leave_ListComp(self, node) -> None:
        self._comprehensions -= 1

    visit_SetComp = visit_GeneratorExp = visit_ListComp
    leave_SetComp = leave_GeneratorExp = leave_ListComp

    # ---- uses --------------------------------------------------------------------------------
    def visit_Await(self, node: cst.Await) -> None:
        if not self._functions:
            return
        function = self._functions[-1]
        if function.pending:
            awaited = _names_in(node.expression)
            waits = waits_for_collection(node.expression)
            function.pending = [t for t in function.pending
                                if not (t.name in awaited or (t.name is None and waits))]
        if function.pending:
            for key in coroutine_sessions(self.ctx, node.expression):
                if self._overlaps(function, key):
                    self.report(node.expression, f"`{key}` is used here while a task given it may still be "
                                                 "running: an AsyncSession is not safe for concurrent use")
                    return

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        attr = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
        if attr == "gather":
            if self.ctx.external_name(func) in _GATHER:
                self._gather(node)
        elif attr in ("create_task", "start_soon") and isinstance(func, cst.Attribute) \
                and (group := self._group(func.value)):
            self._group_task(node, group)
        elif attr in ("create_task", "ensure_future") and self._functions:
            if self.ctx.external_name(func) in _SPAWN:
                self._spawn(node)

    def _gather(self, node: cst.Call) -> None:
        seen: set[str] = set()
        for arg in node.args:
            if arg.star == "*" and isinstance(arg.value, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
                keys = coroutine_sessions(self.ctx, arg.value.elt)
                if keys:
                    self.report(node, f"`{keys[0]}` is given to every coroutine of this gather: they run "
                                      "concurrently on one AsyncSession")
                    return
                continue
            if arg.star:
                continue
            for key in coroutine_sessions(self.ctx, arg.value):
                if key in seen:
                    self.report(node, f"two coroutines of this gather use `{key}`: they run concurrently on "
                                      "one AsyncSession")
                    return
                seen.add(key)

    def _group(self, owner: cst.BaseExpression) -> Optional[_Group]:
        if isinstance(owner, cst.Name):
            for group in reversed(self._groups):
                if group is not None and group.name == owner.value:
                    return group
        return None

    def _group_task(self, node: cst.Call, group: _Group) -> None:
        if not node.args:
            return
        times = 2 if self._functions and self._functions[-1].loops > group.loops else 1
        first = node.args[0].value
        if node.func.attr.value == "start_soon":  # anyio: tg.start_soon(func, *args)
            target = self.ctx.project_function(first)
            if target is None or not target.is_async:
                return
            keys = [k for a in node.args[1:] if not a.star and (k := session_key(self.ctx, a.value))]
        else:
            keys = coroutine_sessions(self.ctx, first)
        for key in keys:
            group.uses[key] = group.uses.get(key, 0) + times
            if group.uses[key] >= 2 and key not in group.reported:
                group.reported.add(key)
                self.report(node, f"tasks of this TaskGroup share `{key}`: they run concurrently on one "
                                  "AsyncSession")

    def _spawn(self, node: cst.Call) -> None:
        if not node.args:
            return
        function = self._functions[-1]
        name = self._assigning[-1] if self._assigning else None
        for key in coroutine_sessions(self.ctx, node.args[0].value):
            if self._comprehensions:
                self.report(node, f"every task made by this comprehension is given `{key}`: they run "
                                  "concurrently on one AsyncSession")
                return
            if self._overlaps(function, key):
                self.report(node, f"a task given `{key}` is started while another task using it may still "
                                  "be running: an AsyncSession is not safe for concurrent use")
                return
            function.pending.append(_Task(key, name, tuple(function.branch), node))

    @staticmethod
    def _overlaps(function: _Function, key: str) -> bool:
        here = tuple(function.branch)
        return any(t.key == key and here[:len(t.branch)] == t.branch for t in function.pending)


def _names_in(expr: cst.BaseExpression) -> set[str]:
    out = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            out.add(node.value)
        elif isinstance(node, (cst.Call, cst.List, cst.Tuple, cst.Set, cst.Arg, cst.Element, cst.StarredElement,
                               cst.Attribute, cst.Subscript, cst.SubscriptElement, cst.Index)):
            stack.extend(children(node))
    return out
