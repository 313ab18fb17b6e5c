"""Symbolic values: what an expression is made of, resolved through imports, not yet typed.

The first pass stores these in the module facts; the project index evaluates them lazily to a
kind ("AsyncSession", "AsyncEngine", ...). They are small frozen tuples so they pickle cheaply
(worker processes, the cache).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

import libcst as cst


@dataclass(frozen=True)
class Ref:
    """A name resolved through imports: `target` is a dotted name (`sqlalchemy.orm.Session`) or,
    for a name defined in a project file, `<path>::<name>[.attr...]`."""
    target: str
    origin: str  # the file the name was written in, to pick the nearest project module


@dataclass(frozen=True)
class Attr:
    base: "Value"
    name: str


@dataclass(frozen=True)
class Call:
    func: "Value"
    args: tuple["Value", ...] = ()
    kwargs: tuple[tuple[str, "Value"], ...] = ()

    def kwarg(self, name: str) -> Optional["Value"]:
        for key, value in self.kwargs:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class Subscript:
    base: "Value"
    items: tuple["Value", ...]


@dataclass(frozen=True)
class Str:
    value: str


@dataclass(frozen=True)
class FStr:
    """An f-string: only its literal text up to the first placeholder is known."""
    prefix: str


@dataclass(frozen=True)
class Union_:
    """`A | B` in an annotation."""
    options: tuple["Value", ...]


@dataclass(frozen=True)
class Param:
    """A function parameter: its annotation and default, e.g. `s: AsyncSession = Depends(get_db)`."""
    annotation: Optional["Value"]
    default: Optional["Value"]


@dataclass(frozen=True)
class Awaited:
    """`await <value>`."""
    value: "Value"


@dataclass(frozen=True)
class Const:
    """None, numbers, booleans: known not to be anything the rules care about."""
    text: str


Value = Union[Ref, Attr, Call, Subscript, Str, FStr, Union_, Param, Awaited, Const]

# Resolves a bare name to a Value where the name is bound (local scope, module, import), or None.
NameResolver = Callable[[str], Optional[Value]]

_MAX_DEPTH = 6


def string_value(node: cst.BaseExpression) -> Optional[str]:
    if isinstance(node, cst.SimpleString):
        try:
            value = node.evaluated_value
        except Exception:  # malformed escapes: the rules only need well-formed strings
            return None
        return value if isinstance(value, str) else None
    if isinstance(node, cst.ConcatenatedString):
        left, right = string_value(node.left), string_value(node.right)
        return None if left is None or right is None else left + right
    return None


def _fstring_prefix(node: cst.FormattedString) -> str:
    prefix = []
    for part in node.parts:
        if isinstance(part, cst.FormattedStringText):
            prefix.append(part.value)
        else:
            break
    return "".join(prefix)


def dotted_name(node: cst.BaseExpression) -> Optional[str]:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def to_value(node: cst.BaseExpression, resolve: NameResolver, depth: int = 0) -> Optional[Value]:
    """The symbolic value of an expression, or None when it is nothing the rules can use."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(node, cst.Name):
        if node.value in ("None", "True", "False"):
            return Const(node.value)
        return resolve(node.value)
    if isinstance(node, cst.Attribute):
        base = to_value(node.value, resolve, depth + 1)
        if base is None:
            return None
        if isinstance(base, Ref):
            return Ref(f"{base.target}.{node.attr.value}", base.origin)
        return Attr(base, node.attr.value)
    if isinstance(node, cst.Call):
        func = to_value(node.func, resolve, depth + 1)
        if func is None:
            return None
        args: list[Value] = []
        kwargs: list[tuple[str, Value]] = []
        for arg in node.args:
            if arg.star:
                continue
            value = to_value(arg.value, resolve, depth + 1) or Const("?")
            if arg.keyword is not None:
                kwargs.append((arg.keyword.value, value))
            else:
                args.append(value)
        return Call(func, tuple(args), tuple(kwargs))
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        value = string_value(node)
        return Str(value) if value is not None else None
    if isinstance(node, cst.FormattedString):
        return FStr(_fstring_prefix(node))
    if isinstance(node, cst.Subscript):
        base = to_value(node.value, resolve, depth + 1)
        if base is None:
            return None
        items = []
        for element in node.slice:
            if isinstance(element.slice, cst.Index):
                items.append(to_value(element.slice.value, resolve, depth + 1) or Const("?"))
        return Subscript(base, tuple(items))
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        left = to_value(node.left, resolve, depth + 1) or Const("?")
        right = to_value(node.right, resolve, depth + 1) or Const("?")
        return Union_((left, right))
    if isinstance(node, cst.Await):
        inner = to_value(node.expression, resolve, depth + 1)
        return Awaited(inner) if inner is not None else None
    if isinstance(node, (cst.Integer, cst.Float, cst.Imaginary)):
        return Const(node.value)
    return None
