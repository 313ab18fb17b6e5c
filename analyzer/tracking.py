"""What checking one file read from the project index, so a cached result can be re-validated.

A file's findings depend on its own source and on whatever the index told its rules: the facts
of the modules that names resolved into, which module a dotted name resolved to (it depends on
which files exist), and whether a probed path exists at all. Instead of instrumenting every
query, the index's two inputs are wrapped:

* `TrackedModules` (the index's `modules` dict) records each path looked up or found missing;
  a walk over all modules (a project-wide table) records the wildcard `ALL`.
* `TrackedSuffixes` (the index's dotted-suffix table) records each dotted name looked up.

The index memoises kinds across files (`_kinds`); a memo hit would hide the reads made when the
kind was first computed, so `TrackedMemo` keeps, for every memoised value, the reads made while
computing it and replays them into the reader on every hit. Any other cross-file memo added to
the index must be reset per file or go through the same kind of wrapper; see docs/perf.md.
"""
from __future__ import annotations

from typing import Any

ALL = "*"  # the file read the whole module table (a project-wide query)
_MISSING = object()


class Reads:
    """The paths and dotted names one computation read."""
    __slots__ = ("paths", "suffixes")

    def __init__(self):
        self.paths: set[str] = set()
        self.suffixes: set[str] = set()

    def merge(self, other: "Reads") -> None:
        self.paths |= other.paths
        self.suffixes |= other.suffixes


class Tracker:
    """A stack of open computations; reads go to the innermost, and fold outwards when it closes."""

    def __init__(self):
        self.frames: list[Reads] = []
        self.nested = None

    def start_file(self) -> None:
        self.frames = [Reads()]
        if self.nested is not None:
            self.nested.clear()  # the index's within-computation memo: see ProjectIndex._k

    def finish_file(self) -> Reads:
        reads = self.frames[0] if self.frames else Reads()
        self.frames = []
        return reads

    def path(self, path: str) -> None:
        if self.frames:
            self.frames[-1].paths.add(path)

    def suffix(self, dotted: str) -> None:
        if self.frames:
            self.frames[-1].suffixes.add(dotted)


class Lazy:
    """A module whose facts are still on disk (the cache) or not yet extracted."""
    __slots__ = ("key",)

    def __init__(self, key: str):
        self.key = key


class TrackedModules(dict):
    """The index's path -> ModuleFacts table, recording lookups (hits and misses) and loading
    `Lazy` entries on first use."""

    def __init__(self, facts: dict, tracker: Tracker, loader=None):
        super().__init__(facts)
        self.tracker = tracker
        self.loader = loader

    def _load(self, key, value):
        if type(value) is Lazy:
            value = self.loader(key, value.key)
            dict.__setitem__(self, key, value)
        return value

    def __getitem__(self, key):
        self.tracker.path(key)
        return self._load(key, super().__getitem__(key))

    def __contains__(self, key) -> bool:
        self.tracker.path(key)
        return super().__contains__(key)

    def get(self, key, default=None):
        self.tracker.path(key)
        value = super().get(key, _MISSING)
        return default if value is _MISSING else self._load(key, value)

    def __iter__(self):
        self.tracker.path(ALL)
        return super().__iter__()

    def keys(self):
        self.tracker.path(ALL)
        return super().keys()

    def values(self):
        self.tracker.path(ALL)
        return [self._load(k, v) for k, v in super().items()]

    def items(self):
        self.tracker.path(ALL)
        return [(k, self._load(k, v)) for k, v in super().items()]


class TrackedSuffixes(dict):
    """The index's dotted suffix -> candidate paths table, recording which names were looked up."""

    def __init__(self, table: dict, tracker: Tracker):
        super().__init__(table)
        self.tracker = tracker

    def get(self, key, default=None):
        self.tracker.suffix(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.tracker.suffix(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self.tracker.suffix(key)
        return super().__contains__(key)



class TrackedMemo(dict):
    """The index's value -> kind memo. `kind()` stores a None guard before computing and the result
    after; between the two, reads belong to that value. A hit replays them into the reader."""

    def __init__(self, tracker: Tracker):
        super().__init__()
        self.tracker = tracker
        self.reads: dict[Any, Reads] = {}
        self.open: list[Any] = []

    def get(self, key, default=None):
        value = super().get(key, _MISSING)
        if value is _MISSING:
            return default
        reads = self.reads.get(key)
        if reads is not None and self.tracker.frames:
            self.tracker.frames[-1].merge(reads)
        return value

    def __setitem__(self, key, value) -> None:
        tracker = self.tracker
        if not super().__contains__(key) and value is None and tracker.frames:
            self.open.append(key)  # the cycle guard: a computation starts
            tracker.frames.append(Reads())
        elif self.open and self.open[-1] == key and tracker.frames and len(tracker.frames) > 1:
            self.open.pop()
            reads = tracker.frames.pop()
            self.reads[key] = reads
            tracker.frames[-1].merge(reads)
        super().__setitem__(key, value)


class TrackedExtensions(dict):
    """`index.extension(...)` tables (ORM models, call graph...) are built from every module: using
    one, even built already for another file, makes the file depend on every module's facts."""

    def __init__(self, tracker: Tracker):
        super().__init__()
        self.tracker = tracker

    def get(self, key, default=None):
        self.tracker.path(ALL)
        return super().get(key, default)


_TRACKED_CLASS: dict = {}


def _tracked_class(base: type) -> type:
    """ProjectIndex with a hash that records a project-wide read. Helpers keep project-wide tables
    in WeakKeyDictionaries keyed by the index (dependencies.py, engines.py, coroutines.py...); every
    lookup there hashes the index, so a file that consults such a table, freshly built or not,
    depends on every module's facts. (A lookup for other reasons only costs a needless re-check.)"""
    cls = _TRACKED_CLASS.get(base)
    if cls is None:
        def __hash__(self):
            tracker = self.__dict__.get("_tracker")
            if tracker is not None:
                tracker.path(ALL)
            return id(self) >> 4

        cls = _TRACKED_CLASS[base] = type("TrackedIndex", (base,), {"__hash__": __hash__})
    return cls


def tracked_index(facts: dict, meta, loader=None, metas=None):
    """A ProjectIndex over `facts` (path -> ModuleFacts or Lazy) whose reads are recorded;
    returns (index, tracker): bracket each file's check with tracker.start_file/finish_file."""
    from .index import ProjectIndex
    tracker = Tracker()
    index = _tracked_class(ProjectIndex)(TrackedModules(facts, tracker, loader), meta, metas)
    index._by_suffix = TrackedSuffixes(index._by_suffix, tracker)
    index._kinds = TrackedMemo(tracker)
    if hasattr(index, "_extensions"):
        index._extensions = TrackedExtensions(tracker)
    index._tracker = tracker
    tracker.nested = index.__dict__.setdefault("_nested", {})
    return index, tracker
