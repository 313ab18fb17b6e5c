"""Import statements to name bindings: the light per-module import table.

Resolving names this way costs a dictionary lookup; libcst's QualifiedNameProvider would cost
about ten times the parse itself (measured on 724k lines), so it is never used.
"""
from __future__ import annotations

import os
from typing import Iterator, Union

import libcst as cst

from .values import Ref, dotted_name


def _module_dotted(node: Union[cst.Attribute, cst.Name, None]) -> str:
    return dotted_name(node) or "" if node is not None else ""


def import_bindings(stmt: Union[cst.Import, cst.ImportFrom], path: str) -> Iterator[tuple[str, Ref]]:
    """The (local name, Ref) pairs an import statement binds, written in the file at `path`."""
    if isinstance(stmt, cst.Import):
        for alias in stmt.names:
            full = _module_dotted(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                yield alias.asname.name.value, Ref(full, path)
            else:
                top = full.split(".", 1)[0]
                yield top, Ref(top, path)
        return
    if isinstance(stmt.names, cst.ImportStar):
        return
    module = _module_dotted(stmt.module)
    level = len(stmt.relative)
    if level:
        base = os.path.dirname(path)
        for _ in range(level - 1):
            base = os.path.dirname(base)
        prefix = f"{base}::{module + '.' if module else ''}"
    else:
        prefix = f"{module}."
    for alias in stmt.names:
        name = alias.name.value if isinstance(alias.name, cst.Name) else dotted_name(alias.name)
        if name is None:
            continue
        local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else name
        yield local, Ref(prefix + name, path)
