"""Which AsyncSession class an AsyncSession value is an instance of.

Kinds say only "AsyncSession" for SQLAlchemy's class and SQLModel's subclass alike (every rule
treats them the same); the one difference a rule needs — SQLModel's has `.exec()` — is found by
following the value back to the class kind it was made from: an annotation, a constructor call,
the `class_` of the factory that made it, or what a dependency yields.
"""
from __future__ import annotations

from typing import Optional

from . import kinds as K
from .facts import ClassInfo, FuncInfo
from .index import ProjectIndex
from .values import Attr, Awaited, Call, Const, Param, Ref, Subscript, Union_, Value

SQLALCHEMY = "type:AsyncSession"
SQLMODEL = "type:SQLModelAsyncSession"
_MAX_DEPTH = 10


def session_class(index: ProjectIndex, value: Optional[Value], depth: int = 0) -> Optional[str]:
    """SQLALCHEMY, SQLMODEL, or None when the analyzer cannot tell."""
    if value is None or depth > _MAX_DEPTH:
        return None
    depth += 1
    if isinstance(value, Param):
        dep = _dependency(index, value)
        if dep is not None:
            func = index.function(dep)
            if func is not None:
                return _result_class(index, func, depth)
        return _type_class(index, value.annotation, depth)
    if isinstance(value, Call):
        func_kind = index.kind(value.func)
        if func_kind in K.ASYNC_SESSION_CLASSES:
            return func_kind
        if func_kind == K.ASYNC_FACTORY:
            return _factory_class(index, value.func, depth)
        if func_kind == "method:AsyncSessionFactory.begin":
            return _factory_class(index, _owner(value.func), depth)
        if func_kind is not None and func_kind.startswith("func:"):
            func = index.function(value.func)
            if func is not None and not func.is_async and not func.is_generator:
                return _result_class(index, func, depth)
        return None
    if isinstance(value, Awaited) and isinstance(value.value, Call):
        func = index.function(value.value.func)
        if func is not None and func.is_async and not func.is_generator:
            return _result_class(index, func, depth)
        return None
    if isinstance(value, Ref):
        resolved = index.resolve(value)
        symbol, attrs = resolved.symbol, resolved.attrs
        if isinstance(symbol, ClassInfo) and len(attrs) == 2 and attrs[0] == "__self__":
            return session_class(index, symbol.self_attrs.get(attrs[1]), depth)
        if symbol is not None and not attrs and not isinstance(symbol, (FuncInfo, ClassInfo)):
            return session_class(index, symbol, depth)
    return None


def _owner(value: Value) -> Optional[Value]:
    """`SessionLocal` for `SessionLocal.begin`."""
    if isinstance(value, Attr):
        return value.base
    if isinstance(value, Ref) and "." in value.target.rpartition("::")[2]:
        return Ref(value.target.rpartition(".")[0], value.origin)
    return None


def _dependency(index: ProjectIndex, param: Param) -> Optional[Value]:
    default = param.default
    if isinstance(default, Call) and index.kind(default.func) == "fn:Depends" and default.args:
        return default.args[0]
    annotation = _deref(index, param.annotation)
    if isinstance(annotation, Subscript) and index.kind(annotation.base) == "Annotated":
        for extra in annotation.items[1:]:
            if isinstance(extra, Call) and index.kind(extra.func) == "fn:Depends" and extra.args:
                return extra.args[0]
    return None


def _deref(index: ProjectIndex, value: Optional[Value]) -> Optional[Value]:
    """A module-level alias (`SessionDep = Annotated[...]`) replaced by what it stands for."""
    for _ in range(_MAX_DEPTH):
        if not isinstance(value, Ref):
            return value
        resolved = index.resolve(value)
        symbol = resolved.symbol
        if symbol is None or resolved.attrs or isinstance(symbol, (FuncInfo, ClassInfo)):
            return value
        value = symbol
    return value


def _type_class(index: ProjectIndex, annotation: Optional[Value], depth: int) -> Optional[str]:
    annotation = _deref(index, annotation)
    if annotation is None or depth > _MAX_DEPTH:
        return None
    if isinstance(annotation, Subscript) and annotation.items:
        if index.kind(annotation.base) in ("Annotated", "Optional"):
            return _type_class(index, annotation.items[0], depth + 1)
        return None
    if isinstance(annotation, Union_):
        real = [o for o in annotation.options if not (isinstance(o, Const) and o.text == "None")]
        return _type_class(index, real[0], depth + 1) if len(real) == 1 else None
    kind = index.kind(annotation)
    return kind if kind in K.ASYNC_SESSION_CLASSES else None


def _result_class(index: ProjectIndex, func: FuncInfo, depth: int) -> Optional[str]:
    found = {session_class(index, v, depth) for v in func.returns}
    if None in found or len(found) > 1:
        return None
    if found:
        return found.pop()
    annotation = func.return_annotation
    if isinstance(annotation, Subscript) and annotation.items:  # AsyncIterator[AsyncSession]
        if (index.external_name(annotation.base) or "").rpartition(".")[2] in (
                "AsyncIterator", "AsyncGenerator", "Iterator", "Generator"):
            annotation = annotation.items[0]
    return _type_class(index, annotation, depth)


def _factory_class(index: ProjectIndex, factory: Optional[Value], depth: int) -> Optional[str]:
    """The class an AsyncSession factory makes: its `class_`, else SQLAlchemy's (the default)."""
    factory = _deref(index, factory)
    if isinstance(factory, Ref):  # `self.factory`: what __init__ assigned
        resolved = index.resolve(factory)
        if isinstance(resolved.symbol, ClassInfo) and len(resolved.attrs) == 2 and resolved.attrs[0] == "__self__":
            factory = _deref(index, resolved.symbol.self_attrs.get(resolved.attrs[1]))
    if isinstance(factory, Call):
        func_kind = index.kind(factory.func)
        if func_kind in ("fn:async_sessionmaker", "fn:sessionmaker"):
            class_ = factory.kwarg("class_")
            if class_ is None:
                return SQLALCHEMY if func_kind == "fn:async_sessionmaker" else None
            kind = index.kind(class_)
            return kind if kind in K.ASYNC_SESSION_CLASSES else None
        return None
    if isinstance(factory, Param) and factory.annotation is not None:  # `maker: async_sessionmaker[AsyncSession]`
        annotation = _deref(index, factory.annotation)
        if isinstance(annotation, Subscript) and index.kind(annotation.base) == "fn:async_sessionmaker" and annotation.items:
            return _type_class(index, annotation.items[0], depth + 1)
    return None
