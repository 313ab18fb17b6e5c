"""Which files are worth parsing: a text pre-filter that never costs a finding.

A file matters to a scan in two ways: it can trigger a rule itself, or it contributes facts
(models, schemas, factories, dependencies, sync helpers that block, re-exports) that a rule in
another file reads through the project index. A file is parsed when either may hold; every
other file gets an empty placeholder in the index (so dotted names still resolve to the same
paths) and no findings.

1. Triggers (read from the bytes, no parse). Every rule fires on something that is either
   written in the file or reached through one of its imports. Written in the file means one of
   the words in `_TRIGGER`: the libraries the rules know (`sqlalchemy`, `sqlmodel`, `fastapi`,
   `starlette`), `async`/`await` (every rule about async context needs an `async def`), and
   the blocking calls SQA502 knows by library name (`sleep`, `requests`, `urlopen`, `httpx`,
   `psycopg`, `sqlite3`, `pymysql`, `MySQLdb`), and ORM model declarations (`relationship`,
   `mapped_column`, `Mapped[`, `Column(`), because the model index (models.py) is project-wide. A file with none of these words can only meet an
   AsyncSession, an engine, a factory, a route decorator... through an import of a project
   module: step 3.
2. Facts, forward: every project module a relevant file imports is relevant too (transitively),
   because rules read the facts of what a file imports (a dependency's yield, a model's
   relationships, a schema's fields, a helper that blocks). The import table is read with a
   regular expression (all `import`/`from ... import` statements, at any depth), and an import is
   mapped to files exactly as `ProjectIndex.resolve` maps it: the longest dotted prefix that
   names a unique file, every candidate while the prefix is ambiguous; for a relative import the
   first existing candidate in resolve's order.
3. Facts, backward: a file without triggers that imports from a relevant module a name the
   index gives a kind to (an AsyncSession factory, an engine, an `Annotated[AsyncSession, ...]`
   alias, FastAPI app or router), a project `async def` or a function whose result has a kind,
   a class holding such values, or a whole module that defines any of those, is relevant. The
   index is asked with the facts parsed so far, and steps 2-3 repeat until nothing changes.

What can still differ: a name reached without any import statement (`importlib`,
`__import__`, star imports: the index does not follow those either) and a backslash-continued
import line (joined before matching). Rules that build project-wide tables (ORM models by class
name) only need modules that import sqlalchemy, which are relevant by step 1.
"""
from __future__ import annotations

import os
import re
from typing import Callable, Iterable, Optional

from .facts import ClassInfo, FuncInfo
from .index import _dotted_suffixes
from .values import Ref

_TRIGGERS = (b"sqlalchemy", b"sqlmodel", b"fastapi", b"starlette", b"async", b"await", b"sleep", b"requests",
             b"urlopen", b"httpx", b"psycopg", b"sqlite3", b"pymysql", b"MySQLdb",
             # ORM model code written against re-exported names (`from app.db import Base, relationship`):
             # the model index is project-wide, so such a module counts even if nothing imports it
             b"relationship", b"mapped_column", b"Mapped[", b"Column(")
_IMPORT = re.compile(
    rb"(?:^|[;:])[ \t]*(?:from[ \t]+(\.*)[ \t]*([\w.]*)[ \t]+import[ \t]*(\([^)]*\)|[^\n;#]*)"
    rb"|import[ \t]+([^\n;#]*))", re.M)
_NAME = re.compile(r"[A-Za-z_][\w.]*")

# (level, module, names): `from ..a.b import c, d` -> (2, "a.b", ("c", "d")); `import a.b` -> (0, "a.b", None)
ImportSpec = tuple[int, str, Optional[tuple[str, ...]]]
Scan = tuple[bool, tuple[ImportSpec, ...]]


def _statements(data: bytes):
    """The text of every line holding `import`, with parenthesised and backslash continuations.
    (bytes.find is a C loop: much faster than a regular expression over the whole file.)"""
    pos = data.find(b"import")
    size = len(data)
    while pos != -1:
        start = data.rfind(b"\n", 0, pos) + 1
        while start >= 2 and (data[start - 2:start - 1] == b"\\" or data[start - 3:start - 1] == b"\\\r"):
            start = data.rfind(b"\n", 0, start - 1) + 1
        end = data.find(b"\n", pos)
        end = size if end == -1 else end
        while end < size and (data[end - 1:end] == b"\\" or data[end - 2:end] == b"\\\r"):
            more = data.find(b"\n", end + 1)
            end = size if more == -1 else more
        opening = data.find(b"(", pos, end)
        if opening != -1 and data.find(b")", opening, end) == -1:
            closing = data.find(b")", opening)
            if closing != -1:
                more = data.find(b"\n", closing)
                end = size if more == -1 else more
        yield data[start:end].replace(b"\\\r\n", b" ").replace(b"\\\n", b" ")
        pos = data.find(b"import", end)


def scan(data: bytes) -> Scan:
    """Whether the text holds a trigger word, and its import statements."""
    trigger = any(word in data for word in _TRIGGERS)
    specs: list[ImportSpec] = []
    for text in _statements(data):
        for match in _IMPORT.finditer(text):
            _add_spec(match, specs)
    return trigger, tuple(specs)


def _add_spec(match, specs: list) -> None:
    dots, module, names, plain = match.groups()
    if plain is not None:
        for part in plain.decode("utf-8", "replace").split(","):
            words = part.split()
            if words and _NAME.fullmatch(words[0]):
                specs.append((0, words[0], None))
        return
    text = names.decode("utf-8", "replace").strip("()")
    wanted = []
    for part in text.replace("\n", " ").split(","):
        words = part.split()
        if words and words[0] != "*" and _NAME.fullmatch(words[0]):
            wanted.append(words[0])
    specs.append((len(dots), module.decode("utf-8", "replace"), tuple(wanted)))


class Prefilter:
    def __init__(self, scans: dict[str, Scan]):
        self.scans = scans
        self.by_suffix: dict[str, list[str]] = {}
        for path in scans:
            for suffix in _dotted_suffixes(path):
                self.by_suffix.setdefault(suffix, []).append(path)
        self._edges: dict[str, list[tuple[str, Optional[tuple[str, ...]]]]] = {}

    def edges(self, path: str) -> list[tuple[str, Optional[tuple[str, ...]]]]:
        """(project file, names imported from it or None for "any") for each import of `path`."""
        out = self._edges.get(path)
        if out is not None:
            return out
        out = []
        for level, module, names in self.scans[path][1]:
            if level:
                self._relative(path, level, module, names, out)
            elif names is None:
                self._absolute(module, None, out)
            else:
                for name in names:
                    self._absolute(f"{module}.{name}", (name,), out)
        self._edges[path] = out
        return out

    def _absolute(self, dotted: str, names: Optional[tuple[str, ...]], out: list) -> None:
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            candidates = self.by_suffix.get(".".join(parts[:i]))
            if not candidates:
                continue
            # the imported module itself, or the names taken from the module one level up
            wanted = names if names is not None and i == len(parts) - 1 else None
            out.extend((c, wanted) for c in candidates)
            if len(candidates) == 1:
                return  # resolve stops at a unique match; on ties it may fall through to shorter

    def _relative(self, path: str, level: int, module: str, names, out: list) -> None:
        base = os.path.dirname(path)
        for _ in range(level - 1):
            base = os.path.dirname(base)
        sep = os.sep
        for name in names or ("",):
            parts = [p for p in (module.split(".") if module else []) + ([name] if name else []) if p]
            for i in range(len(parts), -1, -1):
                stem = base + sep + sep.join(parts[:i]) if i else base
                hit = next((c for c in (stem + ".py", stem + sep + "__init__.py") if c in self.scans), None)
                if hit is not None:
                    out.append((hit, (name,) if name and i == len(parts) - 1 else None))
                    break

    def initial(self) -> set[str]:
        """Step 1 and the forward closure of step 2."""
        return self.close({path for path, (trigger, _) in self.scans.items() if trigger})

    def close(self, relevant: set[str], start: Optional[Iterable[str]] = None) -> set[str]:
        todo = list(relevant if start is None else start)
        while todo:
            path = todo.pop()
            for target, _ in self.edges(path):
                if target not in relevant:
                    relevant.add(target)
                    todo.append(target)
        return relevant

    def expand(self, relevant: set[str], interesting: Callable[[str, Optional[tuple[str, ...]]], bool]) -> set[str]:
        """Step 3 once, plus the forward closure of what it adds: the newly relevant files."""
        new = set()
        for path in self.scans:
            if path in relevant:
                continue
            for target, names in self.edges(path):
                if target in relevant and interesting(target, names):
                    new.add(path)
                    break
        if not new:
            return new
        before = set(relevant)
        relevant |= new
        self.close(relevant, new)
        return relevant - before


class InterestingNames:
    """Per module and name, whether a file without triggers could misuse it: see step 3. Asked
    lazily, name by name (a whole-module import stops at the first interesting name)."""

    def __init__(self, index):
        self.index = index
        self._known: dict[tuple[str, str], bool] = {}

    def __call__(self, path: str, names: Optional[tuple[str, ...]]) -> bool:
        module = self.index.modules.get(path)
        if module is None:
            return False
        if names is None:
            names = tuple(module.symbols)
        for name in names:
            key = (path, name)
            found = self._known.get(key)
            if found is None:
                symbol = module.symbols.get(name)
                found = self._known[key] = symbol is not None and self._interesting(path, name, symbol)
            if found:
                return True
        return False

    def _interesting(self, path: str, name: str, symbol) -> bool:
        index = self.index
        ref = Ref(f"{path}::{name}", path)
        if isinstance(symbol, Ref):
            resolved = index.resolve(symbol)
            if resolved.module is not None and resolved.symbol is None and not resolved.attrs:
                return True  # a re-exported project module: look no further, keep it
            if resolved.symbol is not None and not resolved.attrs:
                symbol = resolved.symbol
        if isinstance(symbol, FuncInfo):
            return symbol.is_async or index.function_result_kind(symbol) is not None
        if isinstance(symbol, ClassInfo):
            return self._class_interesting(ref, symbol)
        return index.kind(ref) is not None

    def _class_interesting(self, ref: Ref, cls: ClassInfo) -> bool:
        index = self.index
        if index.kind(ref) is not None:
            return True
        if any(m.is_async for m in cls.methods.values()):
            return True
        for value in list(cls.attrs.values()) + list(cls.self_attrs.values()) + list(cls.annotations.values()):
            if index.kind(value) is not None:
                return True
        return any(index.function_result_kind(m) is not None for m in cls.methods.values())
