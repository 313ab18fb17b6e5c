"""The project index: every scanned module's facts, and lazy evaluation of symbolic values to kinds.

Built once per run from the first pass; rules read it through `kind`, `function`, `class_`.
A name imported from another project module (`from app.db import SessionLocal`) is resolved to the
nearest file whose path ends in `app/db.py`, so many small apps side by side (fixtures) each see
their own modules.
"""
from __future__ import annotations

import os
from typing import Optional, Union

from . import kinds as K
from .facts import ClassInfo, FuncInfo, ModuleFacts, Symbol
from .project import MetaResolver, ProjectMeta
from .values import Attr, Awaited, Call, Const, FStr, Param, Ref, Str, Subscript, Union_, Value

_MAX_DEPTH = 12
_MISSING = object()


class Resolved:
    """Where a Ref leads: a project symbol (with attribute names after it) or an external name."""
    __slots__ = ("module", "symbol", "attrs", "external")

    def __init__(self, module: Optional[ModuleFacts], symbol: Optional[Symbol], attrs: tuple[str, ...],
                 external: Optional[str] = None):
        self.module, self.symbol, self.attrs, self.external = module, symbol, attrs, external


class ProjectIndex:
    def __init__(self, facts: dict[str, ModuleFacts], meta: Optional[ProjectMeta] = None,
                 metas: Optional[MetaResolver] = None):
        self.modules = facts
        self.meta = meta or ProjectMeta()
        self.metas = metas  # per-project-root declarations; None: `meta` holds for every file
        self._by_suffix: dict[str, list[str]] = {}
        for path in facts:
            for suffix in _dotted_suffixes(path):
                self._by_suffix.setdefault(suffix, []).append(path)
        self._kinds: dict[Value, Optional[str]] = {}
        self._extensions: dict[str, object] = {}

    def extension(self, name: str, factory):
        """A lazily built, per-index helper (the ORM model index, the call graph, ...): built once
        by `factory(self)` on first use, so a scan pays only for what its selected rules ask."""
        found = self._extensions.get(name)
        if found is None:
            found = self._extensions[name] = factory(self)
        return found

    def meta_for(self, path: str) -> ProjectMeta:
        """The declared dependencies of the project (nearest root above `path`) a file belongs to."""
        return self.metas.for_path(path) if self.metas is not None else self.meta

    # ---- module and name resolution -------------------------------------------------------
    def module_path(self, dotted: str, origin: str) -> Optional[str]:
        candidates = self._by_suffix.get(dotted)
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        ranked = sorted(candidates, key=lambda p: -len(os.path.commonpath([p, origin])))
        best = len(os.path.commonpath([ranked[0], origin]))
        if len(os.path.commonpath([ranked[1], origin])) == best:
            return None  # two equally near modules: cannot tell which one is meant
        return ranked[0]

    def resolve(self, ref: Ref, depth: int = 0) -> Resolved:
        target = ref.target
        if "::" in target:
            base, _, rest = target.partition("::")
            parts = tuple(rest.split(".")) if rest else ()
            if base in self.modules:
                return self._in_module(self.modules[base], parts, ref.origin, depth)
            for i in range(len(parts), -1, -1):
                stem = os.path.join(base, *parts[:i])
                for candidate in (stem + ".py", os.path.join(stem, "__init__.py")):
                    if candidate in self.modules:
                        return self._in_module(self.modules[candidate], parts[i:], ref.origin, depth)
            return Resolved(None, None, (), None)
        parts = tuple(target.split("."))
        for i in range(len(parts), 0, -1):
            path = self.module_path(".".join(parts[:i]), ref.origin)
            if path is not None:
                return self._in_module(self.modules[path], parts[i:], ref.origin, depth)
        return Resolved(None, None, (), target)

    def _in_module(self, module: ModuleFacts, parts: tuple[str, ...], origin: str, depth: int) -> Resolved:
        if not parts:
            return Resolved(module, None, ())
        symbol = module.symbols.get(parts[0])
        if isinstance(symbol, Ref) and depth < _MAX_DEPTH:
            # a re-export or an import of another module's name: follow it
            rest = ".".join(parts[1:])
            target = symbol.target + ("." + rest if rest else "")
            return self.resolve(Ref(target, symbol.origin), depth + 1)
        return Resolved(module, symbol, parts[1:])

    def function(self, value: Optional[Value]) -> Optional[FuncInfo]:
        """The project function a value names (`get_db`, `crud.create_user`), if any."""
        if isinstance(value, Ref):
            resolved = self.resolve(value)
            if isinstance(resolved.symbol, FuncInfo) and not resolved.attrs:
                return resolved.symbol
            if isinstance(resolved.symbol, ClassInfo) and len(resolved.attrs) == 1:
                return resolved.symbol.methods.get(resolved.attrs[0])
        return None

    def class_(self, value: Optional[Value]) -> Optional[ClassInfo]:
        if isinstance(value, Ref):
            resolved = self.resolve(value)
            if isinstance(resolved.symbol, ClassInfo) and not resolved.attrs:
                return resolved.symbol
        return None

    def external_name(self, value: Optional[Value]) -> Optional[str]:
        """The dotted library name a value refers to (`time.sleep`), or None for project names."""
        if isinstance(value, Ref):
            return self.resolve(value).external
        return None

    # ---- kinds ------------------------------------------------------------------------------
    def kind(self, value: Optional[Value]) -> Optional[str]:
        """What a value is ("AsyncSession", "type:AsyncSession", "AsyncSessionFactory", ...) or None."""
        if value is None:
            return None
        cached = self._kinds.get(value, _MISSING)
        if cached is not _MISSING:
            return cached
        self._kinds[value] = None  # cycle guard
        self.__dict__.setdefault("_nested", {}).clear()
        result = self._kind(value, 0)
        self._kinds[value] = result
        return result

    def _k(self, value: Optional[Value], depth: int) -> Optional[str]:
        if value is None or depth > _MAX_DEPTH:
            return None
        cached = self._kinds.get(value, _MISSING)
        if cached is not _MISSING:
            return cached
        # Within one top-level computation, the same value is met again and again (a chain of
        # project functions returning each other's results, each with several returns): without
        # this memo the work grows exponentially with the depth (minutes on sqlalchemy's source).
        # Keyed by depth, so the answer is the one a fresh evaluation at that depth gives; emptied
        # when a top-level `kind()` starts, so no cross-file memo hides a file's reads (tracking.py).
        nested = self.__dict__.setdefault("_nested", {})
        key = (value, depth)
        found = nested.get(key, _MISSING)
        if found is _MISSING:
            found = nested[key] = self._kind(value, depth + 1)
        return found

    def _kind(self, value: Value, depth: int) -> Optional[str]:
        if isinstance(value, Ref):
            return self._ref_kind(value, depth)
        if isinstance(value, Attr):
            base = self._k(value.base, depth)
            return K.attribute_kind(base, value.name) if base else None
        if isinstance(value, Call):
            return self._call_kind(value, depth)
        if isinstance(value, Subscript):
            base = self._k(value.base, depth)
            if base in ("Annotated", "Optional") and value.items:
                return self._k(value.items[0], depth)
            if base in ("fn:async_sessionmaker", "fn:sessionmaker"):
                return base
            return None
        if isinstance(value, Union_):
            real = [o for o in value.options if not (isinstance(o, Const) and o.text == "None")]
            return self._k(real[0], depth) if len(real) == 1 else None
        if isinstance(value, Param):
            return self._param_kind(value, depth)
        if isinstance(value, Awaited):
            inner = self._k(value.value, depth)
            if inner and inner.startswith("coro:"):
                return inner[5:] or None
            return None
        return None

    def _ref_kind(self, ref: Ref, depth: int) -> Optional[str]:
        resolved = self.resolve(ref)
        if resolved.external is not None:
            return self._external_kind(resolved.external)
        symbol = resolved.symbol
        if symbol is None:
            return None
        attrs = resolved.attrs
        if isinstance(symbol, FuncInfo):
            base = f"func:{ref.target}"
        elif isinstance(symbol, ClassInfo):
            if attrs and attrs[0] == "__self__":  # `self.x` in a method: what __init__ assigned
                if len(attrs) < 2 or attrs[1] not in symbol.self_attrs:
                    return None
                base, attrs = self._k(symbol.self_attrs[attrs[1]], depth), attrs[2:]
            elif attrs and attrs[0] in symbol.attrs:
                base, attrs = self._k(symbol.attrs[attrs[0]], depth), attrs[1:]
            elif attrs:
                return None
            else:
                base = self._class_kind(symbol, depth)
        else:
            base = self._k(symbol, depth)
        for attr in attrs:
            if base is None:
                return None
            base = K.attribute_kind(base, attr)
        return base

    @staticmethod
    def _external_kind(dotted: str) -> Optional[str]:
        if dotted in K.EXTERNAL:
            return K.EXTERNAL[dotted]
        head, _, attr = dotted.rpartition(".")
        if head and head in K.EXTERNAL:
            return K.attribute_kind(K.EXTERNAL[head], attr)
        return None

    def _class_kind(self, cls: ClassInfo, depth: int) -> Optional[str]:
        for base in cls.bases:  # a project subclass of AsyncSession is an AsyncSession
            kind = self._k(base, depth)
            if kind in K.INSTANCE_OF and kind.startswith("type:"):
                return kind
        return None

    def _call_kind(self, call: Call, depth: int) -> Optional[str]:
        func_kind = self._k(call.func, depth)
        if func_kind is None:
            return None
        if func_kind == "fn:sessionmaker":
            class_ = call.kwarg("class_")
            if class_ is None:
                return K.SYNC_FACTORY
            return K.ASYNC_FACTORY if self._k(class_, depth) in K.ASYNC_SESSION_CLASSES else None
        if func_kind.startswith("func:"):
            func = self.function(call.func)
            if func is None or func.is_generator:
                return None
            result = self.function_result_kind(func, depth)
            if func.is_async:
                return f"coro:{result or ''}"
            return result
        return K.call_kind(func_kind)

    def _param_kind(self, param: Param, depth: int) -> Optional[str]:
        if isinstance(param.default, Call) and self._k(param.default.func, depth) == "fn:Depends":
            if param.default.args:
                dep = self.dependency_kind(param.default.args[0], depth)
                if dep is not None or param.annotation is None:
                    return dep
                # a dependency the index cannot see (a library's, an injected one): the annotation says
            # `s: Annotated[AsyncSession, Depends()]` / `s: AsyncSession = Depends()`: the annotation says
        annotation = param.annotation
        if isinstance(annotation, Subscript) and self._k(annotation.base, depth) == "Annotated":
            for extra in annotation.items[1:]:
                if isinstance(extra, Call) and self._k(extra.func, depth) == "fn:Depends" and extra.args:
                    dep = self.dependency_kind(extra.args[0], depth)
                    if dep is not None:
                        return dep
        if annotation is None:
            return None
        return K.INSTANCE_OF.get(self._k(annotation, depth) or "")

    def dependency_kind(self, dep: Value, depth: int = 0) -> Optional[str]:
        """The kind FastAPI injects for `Depends(dep)`: what the function yields or returns."""
        func = self.function(dep)
        if func is None:
            return None
        return self.function_result_kind(func, depth)

    def function_result_kind(self, func: FuncInfo, depth: int = 0) -> Optional[str]:
        """What a function gives its caller (awaited, or per `yield` for a generator dependency)."""
        kinds = {self._k(v, depth) for v in func.returns}
        kinds.discard(None)
        if len(kinds) == 1:
            return kinds.pop()
        if not func.returns and func.return_annotation is not None:
            ann = func.return_annotation
            if isinstance(ann, Subscript) and ann.items:  # AsyncIterator[AsyncSession], AsyncGenerator[...]
                base = self.external_name(ann.base) or ""
                if base.rpartition(".")[2] in ("AsyncIterator", "AsyncGenerator", "Iterator", "Generator"):
                    ann = ann.items[0]
            return K.INSTANCE_OF.get(self._k(ann, depth) or "")
        return None


def _dotted_suffixes(path: str, limit: int = 6) -> list[str]:
    parts = os.path.normpath(path).split(os.sep)
    name = parts[-1]
    if name == "__init__.py":
        parts = parts[:-1]
    elif name.endswith(".py"):
        parts = parts[:-1] + [name[:-3]]
    else:
        return []
    parts = [p for p in parts if p]
    return [".".join(parts[-n:]) for n in range(1, min(limit, len(parts)) + 1)
            if all(p.isidentifier() for p in parts[-n:])]
