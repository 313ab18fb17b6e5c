"""Which project functions FastAPI calls once per request: the targets of `Depends(...)` /
`Security(...)` anywhere in the project (parameter defaults, `Annotated[..., Depends(f)]`, type
aliases of those). Computed once per project index from the first-pass facts.
"""
from __future__ import annotations

from typing import Optional

from .engines import iter_functions
from .index import ProjectIndex
from .values import Call, Ref, Subscript, Value

_DEPENDS = frozenset({"fastapi.Depends", "fastapi.Security", "fastapi.params.Depends", "fastapi.params.Security",
                      "fastapi.param_functions.Depends", "fastapi.param_functions.Security"})

def dependency_functions(index: ProjectIndex) -> frozenset[int]:
    """ids of the FuncInfo objects (functions, or `__init__`/`__call__` of classes) used as dependencies."""
    return index.extension("dependencies.functions", _dependency_functions)


def _dependency_functions(index: ProjectIndex) -> frozenset[int]:
    found: set[int] = set()
    for facts in index.modules.values():
        for func in iter_functions(facts):
            for _, param in func.params:
                targets = _depends_targets(index, param.default) + _annotation_targets(index, param.annotation)
                if _is_depends(index, param.default) and not targets and param.annotation is not None:
                    targets = [param.annotation]  # `p: Pagination = Depends()`: the annotated class
                for target in targets:
                    _add_target(index, target, found)
    return frozenset(found)


def _is_depends(index: ProjectIndex, value: Optional[Value]) -> bool:
    return isinstance(value, Call) and index.external_name(value.func) in _DEPENDS


def _depends_targets(index: ProjectIndex, value: Optional[Value]) -> list[Value]:
    if not _is_depends(index, value):
        return []
    target = value.args[0] if value.args else value.kwarg("dependency")
    return [target] if target is not None else []


def _annotation_targets(index: ProjectIndex, annotation: Optional[Value], depth: int = 0) -> list[Value]:
    if depth > 4:
        return []
    if isinstance(annotation, Ref):  # a type alias: `SessionDep = Annotated[AsyncSession, Depends(get_db)]`
        resolved = index.resolve(annotation)
        if isinstance(resolved.symbol, Subscript) and not resolved.attrs:
            return _annotation_targets(index, resolved.symbol, depth + 1)
        return []
    if isinstance(annotation, Subscript) and index.kind(annotation.base) == "Annotated":
        out: list[Value] = []
        for extra in annotation.items[1:]:
            out.extend(_depends_targets(index, extra))
        return out
    return []


def _add_target(index: ProjectIndex, target: Value, found: set[int]) -> None:
    func = index.function(target)
    if func is not None:
        found.add(id(func))
        return
    if isinstance(target, Call):  # `Depends(Checker(...))`: the instance's __call__ runs per request
        cls = index.class_(target.func)
        if cls is not None and "__call__" in cls.methods:
            found.add(id(cls.methods["__call__"]))
        return
    cls = index.class_(target)  # `Depends(Pagination)`: the class is instantiated per request
    if cls is not None and "__init__" in cls.methods:
        found.add(id(cls.methods["__init__"]))
