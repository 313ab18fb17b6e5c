"""Shared questions of the session-lifecycle rules (SQA301-305): which AsyncSession a coroutine
uses, which functions are lifespans, which parameters are request-scoped sessions.

A session's identity inside one function is its dotted name (`db`, `self.session`): within one
expression or one function body the same name is the same binding, and nothing here compares
names across functions.
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Optional

import libcst as cst

from . import kinds as K
from .facts import FuncInfo
from .traverse import children
from .values import Attr, Call, Param, Ref, dotted_name

if TYPE_CHECKING:
    from .context import FileContext
    from .index import ProjectIndex

_APP_KINDS = ("FastAPI", "Starlette")
_CONTEXT_MANAGERS = ("contextlib.asynccontextmanager",)
_SESSION_METHOD = f"asyncmethod:{K.ASYNC_SESSION}."


def session_key(ctx: "FileContext", node: cst.BaseExpression) -> Optional[str]:
    """The dotted name of an AsyncSession value (`db`, `self.session`), or None."""
    if not isinstance(node, (cst.Name, cst.Attribute)):
        return None
    name = dotted_name(node)
    if name is None or ctx.kind(node) != K.ASYNC_SESSION:
        return None
    return name


def coroutine_sessions(ctx: "FileContext", node: cst.BaseExpression) -> list[str]:
    """The AsyncSessions a coroutine expression will use once it runs: `db.execute(q)` uses `db`;
    `crud.get_user(db, 1)` (a project `async def`) uses every session it is given."""
    if not isinstance(node, cst.Call):
        return []
    func = node.func
    if isinstance(func, cst.Attribute):
        kind = ctx.kind(func)
        if kind and kind.startswith(_SESSION_METHOD):
            key = session_key(ctx, func.value)
            return [key] if key else []
    target = ctx.project_function(func)
    if target is None or not target.is_async or target.is_generator or not may_do_session_io(ctx.index, target):
        return []
    keys = []
    for arg in node.args:
        if arg.star:
            continue
        key = session_key(ctx, arg.value)
        if key and key not in keys:
            keys.append(key)
    return keys


# Session coroutines that talk to the database. `run_sync` is left out: SQLAlchemy's own
# gather example hands one session to many coroutines only to `run_sync(merge_frozen_result)`
# there, which does no IO.
_SESSION_IO = frozenset({"execute", "scalar", "scalars", "get", "get_one", "commit", "rollback", "flush",
                         "refresh", "delete", "merge", "stream", "stream_scalars", "connection"})


def may_do_session_io(index: "ProjectIndex", func: FuncInfo) -> bool:
    """Evidence that a project function given a session uses it for IO: it calls a database
    coroutine on one of its parameters, or hands work on to another project `async def`."""
    for callee in func.calls:
        if isinstance(callee, Attr) and callee.name in _SESSION_IO and isinstance(callee.base, Param):
            return True
        if isinstance(callee, Ref):
            other = index.function(callee)
            if other is not None and other.is_async:
                return True
    return False


def is_async_context_manager(ctx: "FileContext", node: cst.FunctionDef) -> bool:
    for decorator in node.decorators:
        expr = decorator.decorator
        if isinstance(expr, (cst.Name, cst.Attribute)) and ctx.external_name(expr) in _CONTEXT_MANAGERS:
            return True
    return False


_LIFESPANS: "weakref.WeakKeyDictionary[ProjectIndex, frozenset[int]]" = weakref.WeakKeyDictionary()


def _module_level_lifespans(index: "ProjectIndex") -> frozenset[int]:
    """ids of the project functions passed as `lifespan=` to a module-level FastAPI()/Starlette()."""
    cached = _LIFESPANS.get(index)
    if cached is not None:
        return cached
    found = set()
    for module in index.modules.values():
        for symbol in module.symbols.values():
            if isinstance(symbol, Call) and (arg := symbol.kwarg("lifespan")) is not None:
                if index.kind(symbol.func) in ("type:FastAPI", "type:Starlette"):
                    func = index.function(arg)
                    if func is not None:
                        found.add(id(func))
    result = frozenset(found)
    _LIFESPANS[index] = result
    return result


def is_lifespan(ctx: "FileContext", node: cst.FunctionDef, module_level: bool) -> bool:
    """A lifespan handler: given to `FastAPI(lifespan=...)` (at module level anywhere in the project,
    or inside a factory function in this file), or an `@asynccontextmanager` whose only parameter
    is annotated FastAPI/Starlette. Call with the scope enclosing `node` current."""
    if node.asynchronous is None:
        return False
    params = list(node.params.posonly_params) + list(node.params.params)
    if len(params) != 1:
        return False
    annotation = params[0].annotation
    if annotation is not None and ctx.kind(annotation.annotation) in ("type:FastAPI", "type:Starlette"):
        return is_async_context_manager(ctx, node) or _given_as_lifespan(ctx, node, module_level)
    return _given_as_lifespan(ctx, node, module_level)


def _given_as_lifespan(ctx: "FileContext", node: cst.FunctionDef, module_level: bool) -> bool:
    name = node.name.value
    if module_level:
        symbol = ctx.facts.symbols.get(name)
        if isinstance(symbol, FuncInfo) and id(symbol) in _module_level_lifespans(ctx.index):
            return True
    # `def create_app(): return FastAPI(lifespan=lifespan)`: only looked for in this file, and only
    # once a candidate mistake was found (the caller asks lazily)
    for call in _all_calls(ctx.module):
        for arg in call.args:
            if (arg.keyword is not None and arg.keyword.value == "lifespan" and isinstance(arg.value, cst.Name)
                    and arg.value.value == name and dotted_name(call.func) is not None
                    and ctx.index.external_name(ctx.value(call.func)) in ("fastapi.FastAPI", "fastapi.applications.FastAPI",
                                                                         "starlette.applications.Starlette")):
                return True
    return False


def _all_calls(node: cst.CSTNode):
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Call):
            yield current
        stack.extend(children(current))


def app_kind(kind: Optional[str]) -> bool:
    return kind in _APP_KINDS


def first_param_name(node: cst.FunctionDef) -> Optional[str]:
    params = list(node.params.posonly_params) + list(node.params.params)
    return params[0].name.value if params else None


def param_names(node: cst.FunctionDef) -> set[str]:
    every = list(node.params.posonly_params) + list(node.params.params) + list(node.params.kwonly_params)
    return {p.name.value for p in every}


def waits_for_collection(expr: cst.BaseExpression) -> bool:
    """`asyncio.gather(*tasks)` / `asyncio.wait(tasks)`: waits for tasks kept in a collection."""
    if not isinstance(expr, cst.Call):
        return False
    func = expr.func
    name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
    return name in ("gather", "wait")
