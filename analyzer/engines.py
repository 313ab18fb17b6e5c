"""Project-wide facts about engines: which library calls make one, which module-level engines async
code uses, whether a module is async SQLAlchemy code, Alembic, or sync throughout.

Computed from the first-pass facts only (no extra tree walks) and memoised per project index.
"""
from __future__ import annotations

import os
from typing import Iterable, Iterator, Optional

from . import kinds as K
from .facts import ClassInfo, FuncInfo, ModuleFacts
from .index import ProjectIndex
from .values import Call, Ref

SYNC_ENGINE_FUNCTIONS = frozenset({"fn:create_engine", "fn:engine_from_config"})
ASYNC_ENGINE_FUNCTIONS = frozenset({"fn:create_async_engine", "fn:async_engine_from_config"})
ASYNC_PACKAGES = ("sqlalchemy.ext.asyncio", "sqlmodel.ext.asyncio")

# Engine methods that talk to the database (dispose() in an async lifespan is not query traffic).
_IO_METHODS = frozenset({"connect", "begin", "execute", "scalar", "raw_connection"})



def call_names(facts: ModuleFacts, real_names: Iterable[str]) -> frozenset[str]:
    """The names a call of one of `real_names` can be written with in this module: the real names
    (`sa.create_engine`, `create_engine`) and module-level import aliases (`import ... as make`)."""
    real = frozenset(real_names)
    out = set(real)
    for local, symbol in facts.symbols.items():
        if isinstance(symbol, Ref) and symbol.target.rpartition(".")[2] in real:
            out.add(local)
    return frozenset(out)


def callee_name(func) -> Optional[str]:
    """The last name of a call's callee (`create_engine` for `sa.create_engine`)."""
    value = getattr(func, "value", None)
    attr = getattr(func, "attr", None)
    if attr is not None:
        return attr.value
    return value if isinstance(value, str) else None


def imports_async_sqlalchemy(facts: ModuleFacts) -> bool:
    return any(isinstance(s, Ref) and s.target.startswith(ASYNC_PACKAGES) for s in facts.symbols.values())


def imports_package(facts: ModuleFacts, package: str) -> bool:
    return any(isinstance(s, Ref) and (s.target == package or s.target.startswith(package + "."))
               for s in facts.symbols.values())


def is_migration(path: str, facts: ModuleFacts) -> bool:
    """Alembic's env.py and migration scripts: a sync engine there is how Alembic works."""
    parts = os.path.normpath(path).split(os.sep)
    if "alembic" in parts[:-1] or "migrations" in parts[:-1]:
        return True
    return imports_package(facts, "alembic")


def iter_functions(facts: ModuleFacts) -> Iterator[FuncInfo]:
    for symbol in facts.symbols.values():
        if isinstance(symbol, FuncInfo):
            yield symbol
        elif isinstance(symbol, ClassInfo):
            yield from symbol.methods.values()


def has_async_routes(index: ProjectIndex, facts: ModuleFacts) -> bool:
    for func in iter_functions(facts):
        if not func.is_async:
            continue
        for decorator in func.decorators:
            if isinstance(decorator, Call) and K.is_route_decorator(index.kind(decorator.func)):
                return True
    return False


def async_used_engines(index: ProjectIndex) -> frozenset[int]:
    """ids of the module-level sync-engine values that some `async def` of the project queries
    through: `engine.connect()` / `.begin()`, or a call of a `sessionmaker` bound to it."""
    return index.extension("engines.async_used", _async_used_engines)


def _async_used_engines(index: ProjectIndex) -> frozenset[int]:
    used: set[int] = set()
    for facts in index.modules.values():
        for func in iter_functions(facts):
            if not func.is_async:
                continue
            for callee in func.calls:
                if isinstance(callee, Ref):
                    _mark_engine_use(index, callee, used)
    return frozenset(used)


def _mark_engine_use(index: ProjectIndex, callee: Ref, used: set[int]) -> None:
    resolved = index.resolve(callee)
    symbol = resolved.symbol
    if not isinstance(symbol, Call) or resolved.module is None:
        return
    kind = index.kind(symbol)
    if kind == K.SYNC_ENGINE and resolved.attrs[:1] and resolved.attrs[0] in _IO_METHODS:
        used.add(id(symbol))
    elif kind == K.SYNC_FACTORY and resolved.attrs in ((), ("begin",)):
        for bound in list(symbol.args) + [v for _, v in symbol.kwargs]:
            if isinstance(bound, Ref):
                target = index.resolve(bound)
                if isinstance(target.symbol, Call) and not target.attrs and index.kind(target.symbol) == K.SYNC_ENGINE:
                    used.add(id(target.symbol))


def wrapped_in_async_engine(index: ProjectIndex, facts: ModuleFacts, names: Iterable[str]) -> bool:
    """`sync = create_engine(url)` at module level, then `engine = AsyncEngine(sync)` in the same module."""
    refs = {f"{facts.path}::{name}" for name in names}
    if not refs:
        return False
    for symbol in facts.symbols.values():
        if (isinstance(symbol, Call) and any(isinstance(a, Ref) and a.target in refs for a in symbol.args)
                and index.kind(symbol.func) == "type:AsyncEngine"):
            return True
    return False
