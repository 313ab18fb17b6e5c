"""Which versions a declared constraint admits, for rules whose verdict depends on a library's
version (SQA305: FastAPI 0.106-0.117 close yield-dependencies before background tasks run).

Specifiers: PEP 440 (`==`, `===`, `~=`, `>=`, `>`, `<=`, `<`, `!=`, `==X.*`) and Poetry's
(`^X.Y`, `~X.Y`, a bare version, `*`). Anything not understood gives "cannot tell" (None), and
the rules stay silent on that.
"""
from __future__ import annotations

import re
from typing import Optional

from .project import ProjectMeta

Version = tuple[int, ...]
# (low, low inclusive, high, high inclusive); None for an open end
Range = tuple[Optional[Version], bool, Optional[Version], bool]

_VERSION = re.compile(r"^v?(\d+(?:\.\d+)*)(?:[.-]?(?:a|b|rc|post|dev)\d*)*(?:\+[\w.]+)?$")
_CLAUSE = re.compile(r"^(===|==|~=|>=|<=|!=|>|<|\^|~|=)?\s*(.+)$")

FASTAPI_EARLY_CLOSE = ((0, 106, 0), (0, 118, 0))  # [first, first fixed)


def parse_version(text: str) -> Optional[Version]:
    match = _VERSION.match(text.strip())
    if not match:
        return None
    return _pad(tuple(int(p) for p in match.group(1).split(".")))


def _pad(version: Version, size: int = 3) -> Version:
    return version + (0,) * (size - len(version)) if len(version) < size else version


def _bump(parts: tuple[int, ...], index: int) -> Version:
    """The first version after every X.Y... with the first `index + 1` parts fixed."""
    head = list(parts[:index + 1])
    head[-1] += 1
    return _pad(tuple(head))


def clause_range(clause: str) -> Optional[Range]:
    match = _CLAUSE.match(clause.strip())
    if not match:
        return None
    op, text = match.group(1) or "", match.group(2).strip()
    if text == "*" and op in ("", "=="):
        return (None, True, None, True)
    if op in ("==", "") and text.endswith(".*"):
        raw = text[:-2]
        if parse_version(raw) is None:
            return None
        parts = tuple(int(p) for p in raw.split("."))
        return (_pad(parts), True, _bump(parts, len(parts) - 1), False)
    version = parse_version(text)
    if version is None:
        return None
    parts = tuple(int(p) for p in re.match(r"v?(\d+(?:\.\d+)*)", text).group(1).split("."))
    if op in ("==", "===", "="):
        return (version, True, version, True)
    if op == "":  # a bare version: Poetry reads it as ==, a requirements line has no such form
        return (version, True, version, True)
    if op == "!=":
        return (None, True, None, True)
    if op == ">=":
        return (version, True, None, True)
    if op == ">":
        return (version, False, None, True)
    if op == "<=":
        return (None, True, version, True)
    if op == "<":
        return (None, True, version, False)
    if op == "~=":
        if len(parts) < 2:
            return None
        return (version, True, _bump(parts, len(parts) - 2), False)
    if op == "~":  # Poetry: ~1.2.3 -> <1.3.0, ~1.2 -> <1.3, ~1 -> <2
        return (version, True, _bump(parts, min(1, len(parts) - 1)), False)
    if op == "^":  # Poetry: the leftmost non-zero part may not change
        index = next((i for i, p in enumerate(parts) if p != 0), len(parts) - 1)
        return (version, True, _bump(parts, index), False)
    return None


def spec_range(spec: str) -> Optional[Range]:
    """The versions a whole specifier admits (its clauses intersected), or None if not understood."""
    spec = spec.strip()
    if "||" in spec or "|" in spec:
        return None
    if not spec:
        return (None, True, None, True)
    spec = re.sub(r"(===|==|~=|>=|<=|!=|>|<|\^|~)\s+", r"\1", spec)
    clauses = [c for c in re.split(r"[,\s]+(?=[<>=!~^*\d])", spec) if c.strip()]
    result: Range = (None, True, None, True)
    for clause in clauses:
        bound = clause_range(clause.rstrip(","))
        if bound is None:
            return None
        result = _intersect(result, bound)
    return result


def _intersect(a: Range, b: Range) -> Range:
    low, low_inc = a[0], a[1]
    if b[0] is not None and (low is None or b[0] > low or (b[0] == low and not b[1])):
        low, low_inc = b[0], b[1]
    high, high_inc = a[2], a[3]
    if b[2] is not None and (high is None or b[2] < high or (b[2] == high and not b[3])):
        high, high_inc = b[2], b[3]
    return (low, low_inc, high, high_inc)


def range_within(bound: Range, first: Version, stop: Version) -> bool:
    """Every version the range admits is in [first, stop)."""
    low, _, high, high_inc = bound
    if low is None or high is None or low < first:
        return False
    return high < stop or (high == stop and not high_inc)


def pinned_fastapi(meta: ProjectMeta) -> Optional[str]:
    """The constraint pinning FastAPI inside 0.106-0.117 (the versions that close yield-dependencies
    before background tasks run), as declared text for the message; None when the project does not
    pin it there (open ranges, other versions, or nothing declared)."""
    first, stop = FASTAPI_EARLY_CLOSE
    locked = getattr(meta, "locked", {}).get("fastapi")
    if locked is not None:
        version = parse_version(locked)
        return f"fastapi {locked} (locked)" if version is not None and first <= version < stop else None
    requirements = meta.requirement("fastapi")
    if not requirements:
        return None
    bound: Range = (None, True, None, True)
    for requirement in requirements:
        part = spec_range(requirement.spec)
        if part is None:
            return None
        bound = _intersect(bound, part)
    if not range_within(bound, first, stop):
        return None
    return "fastapi" + ", ".join(r.spec for r in requirements)
