"""Which calls make a coroutine, and what a function does with a coroutine it stored in a name.

A call makes a coroutine when it is an AsyncSession / AsyncConnection / AsyncEngine coroutine
method, or a project `async def` (function, or method reached through `self`, a project-class
instance or the class) that is not a generator and whose decorators cannot have replaced it.
"""
from __future__ import annotations

import weakref
from typing import Optional

import libcst as cst

from . import kinds as K
from .facts import ClassInfo, FuncInfo
from .index import ProjectIndex
from .session_class import SQLMODEL, session_class
from .traverse import children
from .values import Attr, Call, Const, Param, Ref, Subscript, Union_, Value, dotted_name

COROUTINE_METHOD_NAMES = frozenset(name for table in K.COROUTINE_METHODS.values() for name in table)
# Decorators that hand back the function itself (so calling it still makes a coroutine).
_BUILTIN_DECORATORS = frozenset({"staticmethod", "classmethod"})
_IDENTITY_DECORATORS = frozenset({"abc.abstractmethod", "typing.override", "typing_extensions.override",
                                  "typing.final", "typing_extensions.final"})
# What a coroutine object itself has: using these is not a sign of a missing await.
COROUTINE_ATTRS = frozenset({"close", "send", "throw", "cr_await", "cr_code", "cr_frame", "cr_running",
                              "cr_origin", "cr_suspended", "__await__", "__name__", "__qualname__"})
_MAX_DEPTH = 8

_async_names: "weakref.WeakKeyDictionary[ProjectIndex, frozenset[str]]" = weakref.WeakKeyDictionary()


def async_function_names(index: ProjectIndex) -> frozenset[str]:
    """Names of every project `async def` (functions and methods): a cheap filter before resolving."""
    names = _async_names.get(index)
    if names is None:
        found: set[str] = set()
        for module in index.modules.values():
            for symbol in module.symbols.values():
                if isinstance(symbol, FuncInfo) and symbol.is_async:
                    found.add(symbol.name)
                elif isinstance(symbol, ClassInfo):
                    found.update(m.name for m in symbol.methods.values() if m.is_async)
        names = _async_names[index] = frozenset(found)
    return names


def is_plain_coroutine_function(index: ProjectIndex, func: FuncInfo) -> bool:
    if not func.is_async or func.is_generator:
        return False
    if any(name not in _BUILTIN_DECORATORS for name in func.unresolved_decorators):
        return False
    for decorator in func.decorators:
        if isinstance(decorator, Call) and K.is_route_decorator(index.kind(decorator.func)):
            continue
        if index.external_name(decorator) in _IDENTITY_DECORATORS:
            continue
        return False
    return True


def project_callee(index: ProjectIndex, value: Optional[Value]) -> Optional[FuncInfo]:
    """The project function or method a callee value names: `crud.get`, `self.load`, `repo.save`."""
    func = index.function(value)
    if func is not None:
        return func
    if isinstance(value, Ref):
        resolved = index.resolve(value)
        symbol, attrs = resolved.symbol, resolved.attrs
        if isinstance(symbol, ClassInfo) and attrs and attrs[0] == "__self__":
            if len(attrs) == 2:
                return find_method(index, symbol, attrs[1])
            if len(attrs) == 3 and attrs[1] in symbol.self_attrs:  # self.repo.save()
                owner = instance_class(index, symbol.self_attrs[attrs[1]])
                return find_method(index, owner, attrs[2]) if owner else None
            return None
        if symbol is not None and not isinstance(symbol, (FuncInfo, ClassInfo)) and len(attrs) == 1:
            owner = instance_class(index, symbol)  # a module-level `repo = Repo()`
            return find_method(index, owner, attrs[0]) if owner else None
        return None
    if isinstance(value, Attr):  # `Repo(db).save`, `repo.save` with `repo: Repo`
        owner = instance_class(index, value.base)
        return find_method(index, owner, value.name) if owner else None
    return None


def instance_class(index: ProjectIndex, value: Optional[Value], depth: int = 0) -> Optional[ClassInfo]:
    """The project class whose instance `value` is, when the analyzer can see it."""
    if value is None or depth > _MAX_DEPTH:
        return None
    if isinstance(value, Call):
        return index.class_(value.func)
    if isinstance(value, Param):
        default = value.default
        if isinstance(default, Call) and index.kind(default.func) == "fn:Depends" and default.args:
            return index.class_(default.args[0])  # `repo: Repo = Depends(Repo)`
        return _annotated_class(index, value.annotation, depth + 1)
    if isinstance(value, Ref):
        resolved = index.resolve(value)
        symbol = resolved.symbol
        if symbol is not None and not resolved.attrs and not isinstance(symbol, (FuncInfo, ClassInfo)):
            return instance_class(index, symbol, depth + 1)
    return None


def _annotated_class(index: ProjectIndex, annotation: Optional[Value], depth: int) -> Optional[ClassInfo]:
    if annotation is None or depth > _MAX_DEPTH:
        return None
    if isinstance(annotation, Subscript) and annotation.items and index.kind(annotation.base) in ("Annotated", "Optional"):
        return _annotated_class(index, annotation.items[0], depth + 1)
    if isinstance(annotation, Union_):
        real = [o for o in annotation.options if not (isinstance(o, Const) and o.text == "None")]
        return _annotated_class(index, real[0], depth + 1) if len(real) == 1 else None
    return index.class_(annotation)


def find_method(index: ProjectIndex, cls: ClassInfo, name: str, depth: int = 0) -> Optional[FuncInfo]:
    if depth > _MAX_DEPTH or name in cls.self_attrs or name in cls.attrs:
        return None  # an attribute set on the instance or class shadows any method
    if name in cls.methods:
        return cls.methods[name]
    for base in cls.bases:
        owner = index.class_(base)
        if owner is not None:
            found = find_method(index, owner, name, depth + 1)
            if found is not None:
                return found
    return None


def coroutine_call(ctx, call: cst.Call) -> Optional[str]:
    """Why `call` gives a coroutine ("AsyncSession.commit is a coroutine method", "create_user is an
    async def"), or None when it does not, or the analyzer cannot tell."""
    func = call.func
    if isinstance(func, cst.Attribute):
        name = func.attr.value
        if name in COROUTINE_METHOD_NAMES:
            kind = ctx.kind(func)
            if kind is not None and kind.startswith("asyncmethod:"):
                return f"{kind[len('asyncmethod:'):]} is a coroutine method"
        elif name == "exec":  # only SQLModel's AsyncSession has it (on SQLAlchemy's, SQA201 says so)
            value = ctx.value(func.value)
            if ctx.index.kind(value) == K.ASYNC_SESSION and session_class(ctx.index, value) == SQLMODEL:
                return "SQLModel's AsyncSession.exec is a coroutine method"
    elif isinstance(func, cst.Name):
        name = func.value
    else:
        return None
    if name not in async_function_names(ctx.index):
        return None
    target = project_callee(ctx.index, ctx.value(func))
    if target is not None and is_plain_coroutine_function(ctx.index, target):
        return f"`{target.name}` is an async def"
    return None


def call_text(call: cst.Call) -> str:
    return f"{dotted_name(call.func) or '...'}()"


def misuse_of_name(function: cst.CSTNode, name: str, origin: cst.Name, is_async: bool) -> Optional[str]:
    """How a function misuses the coroutine it stored in `name` (at `origin`): a description of a
    non-coroutine use, "" when the name is never used again, None when it is awaited somewhere,
    rebound, used by a nested function, or only handed on (to gather, create_task, any call)."""
    bad: Optional[str] = None
    handed_on = False
    body = function.body if isinstance(function, (cst.FunctionDef, cst.Lambda)) else function
    stack: list[tuple[cst.CSTNode, Optional[cst.CSTNode], bool]] = [(body, None, False)]
    while stack:
        node, parent, nested = stack.pop()
        if isinstance(node, cst.Name):
            if node.value != name or node is origin:
                continue
            if isinstance(parent, cst.Attribute) and parent.attr is node:
                continue
            if isinstance(parent, cst.Arg) and parent.keyword is node:
                continue
            if nested:
                return None  # a nested function or class may await it
            use = _use(node, parent, name, is_async)
            if use is _AWAITED:
                return None
            if use is _HANDED_ON:
                handed_on = True
            elif use and bad is None:
                bad = use
            continue
        inner = nested or isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef))
        for child in reversed(list(children(node))):  # popped in source order: the first misuse is named
            stack.append((child, node, inner))
    if bad is not None:
        return bad
    return None if handed_on else ""


_AWAITED = "<awaited>"  # also: rebound, or anything that makes the name no longer this coroutine
_HANDED_ON = "<handed on>"


def _use(node: cst.Name, parent: Optional[cst.CSTNode], name: str, is_async: bool) -> str:
    """A bad use's description, "" for a use with no effect (`x` alone), or one of the markers."""
    if isinstance(parent, cst.Await):
        return _AWAITED
    if isinstance(parent, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.NamedExpr, cst.AsName,
                           cst.Del, cst.NameItem, cst.CompFor, cst.For)) and getattr(parent, "iter", None) is not node:
        return _AWAITED  # rebound (or declared global): what follows is not this coroutine
    if isinstance(parent, (cst.Element, cst.StarredElement)):
        return _AWAITED  # in a tuple or list: packed, or unpacked into (rebinding)
    if isinstance(parent, cst.Attribute) and parent.value is node:
        attr = parent.attr.value
        return _HANDED_ON if attr in COROUTINE_ATTRS else f"`{name}.{attr}`: 'coroutine' object has no attribute '{attr}'"
    if isinstance(parent, cst.Subscript) and parent.value is node:
        return f"`{name}[...]`: 'coroutine' object is not subscriptable"
    if isinstance(parent, cst.For) and parent.iter is node:
        if parent.asynchronous is not None:
            return f"`async for ... in {name}`: 'async for' requires an object with __aiter__ method, got coroutine"
        return f"`for ... in {name}`: 'coroutine' object is not iterable"
    if isinstance(parent, (cst.If, cst.While)) and parent.test is node:
        return f"`if {name}`: a coroutine is always true"
    if isinstance(parent, cst.UnaryOperation) and isinstance(parent.operator, cst.Not):
        return f"`not {name}`: a coroutine is always true"
    if isinstance(parent, cst.Comparison) and parent.left is node or isinstance(parent, cst.ComparisonTarget):
        return f"`{name}` compared: a coroutine is never None and equals nothing else"
    if isinstance(parent, cst.Return) and parent.value is node and is_async:
        return f"`return {name}` from an async def: the caller's `await` gives back the coroutine"
    if isinstance(parent, cst.Expr):
        return ""
    return _HANDED_ON
