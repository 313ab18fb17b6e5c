"""Calls that build an AsyncSession factory: `async_sessionmaker(...)`, `sessionmaker(class_=AsyncSession)`."""
from __future__ import annotations

from typing import Optional

import libcst as cst

from . import kinds as K
from .values import Ref


def factory_names(ctx) -> frozenset[str]:
    """Names a sessionmaker can be called by in this file (the real names and import aliases):
    a string check before any kind is computed."""
    names = {"async_sessionmaker", "sessionmaker"}
    for name, symbol in ctx.facts.symbols.items():
        if isinstance(symbol, Ref) and symbol.target.endswith("sessionmaker"):
            names.add(name)
    return frozenset(names)

def async_factory_call(ctx, call: cst.Call, names: frozenset[str]) -> Optional[str]:
    """"fn:async_sessionmaker" / "fn:sessionmaker" when `call` makes AsyncSessions, else None."""
    func = call.func
    name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None
    if name not in names:
        return None
    kind = ctx.kind(func)
    if kind == "fn:async_sessionmaker":
        return kind
    if kind == "fn:sessionmaker":
        class_ = keyword(call, "class_")
        if class_ is not None and ctx.kind(class_) in K.ASYNC_SESSION_CLASSES:
            return kind
    return None

def keyword(call: cst.Call, name: str) -> Optional[cst.BaseExpression]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None

def has_star_kwargs(call: cst.Call) -> bool:
    return any(arg.star == "**" for arg in call.args)


__all__ = ["factory_names", "async_factory_call", "keyword", "has_star_kwargs"]
