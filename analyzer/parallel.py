"""The work of a scan, in this process or spread over worker processes.

A `Worker` parses files (keeping the parsed modules) and returns their facts; once the parent has
every module's facts it sends them back, and the worker checks the files it holds against an
index built from them. Parsing is most of the cost, and a parsed libcst module is far too big to
send between processes, so a file is checked by the worker that parsed it ("affinity"); only
the facts travel (small frozen tuples), or, with the cache on, only their cache keys.

`Pool` runs one Worker per process (fork: the workers start with the analyzer already imported)
and speaks to each over a pipe; work is split by file size.
"""
from __future__ import annotations

import gc
import os
import traceback
from typing import Any, Optional

from .cache import Cache, facts_digest
from .facts import ModuleFacts, extract_facts
from .finding import PARSE_ERROR, Finding
from .project import MetaResolver
from .source import ParseError, Source, parse, read_bytes, text_line
from .tracking import Lazy, tracked_index


class Worker:
    def __init__(self, cache_dir: Optional[tuple[str, str]] = None):
        self.cache = Cache(*cache_dir) if cache_dir else None
        self.sources: dict[str, Source] = {}
        self.facts: dict[str, ModuleFacts] = {}
        self.parses = 0

    def _parse(self, path: str):
        data = read_bytes(path)
        self.parses += 1
        return parse(path, data) if isinstance(data, bytes) else data

    def parse(self, items: list[tuple[str, str]]) -> dict[str, Any]:
        """For each (path, content key): (facts, digest) or a ParseError. Fresh facts go to the cache."""
        out: dict[str, Any] = {}
        for path, ckey in items:
            result = self._parse(path)
            if isinstance(result, ParseError):
                out[path] = result
                continue
            self.sources[path] = result
            facts = self.facts[path] = extract_facts(result.module, path)
            digest = facts_digest(facts) if self.cache is not None else ""
            if self.cache is not None:
                try:
                    self.cache.save_facts(ckey, facts, digest)
                except OSError:
                    pass  # a read-only tree: the scan still works, only slower next time
            out[path] = (facts, digest)
        return out

    def _load(self, path: str, ckey: str) -> ModuleFacts:
        """Facts the parent only named by cache key: from the cache, else from the file itself."""
        if path in self.facts:
            return self.facts[path]
        if self.cache is not None:
            loaded = self.cache.load_facts(ckey)
            if loaded is not None:
                return loaded[0]
        source = self.sources.get(path) or self._parse(path)
        if isinstance(source, ParseError):
            return ModuleFacts(path)
        return extract_facts(source.module, path)

    def check(self, paths: list[str], facts: dict[str, Any], meta, rule_codes: list[str],
              ignores: dict[str, list[str]], track: bool) -> dict[str, Any]:
        """For each path: (findings, quoted lines, reads or None)."""
        from .catalog import static_rules
        from .checker import check_source

        rules = [rule for code, rule in static_rules().items() if code in rule_codes]
        index, tracker = tracked_index(facts, meta, self._load, MetaResolver())
        out: dict[str, Any] = {}
        for path in paths:
            source = self.sources.get(path)
            if source is None:
                source = self._parse(path)
                if isinstance(source, ParseError):  # changed under our feet since the parse phase
                    out[path] = ([parse_error_finding(source)], {}, None)
                    continue
            own = index.modules[path]
            tracker.start_file()
            found = check_source(source, own, index, rules, ignores.get(path))
            reads = tracker.finish_file()
            lines = {(f.path, f.line): text_line(source, f.line) for f in found}
            out[path] = (found, lines, (frozenset(reads.paths), frozenset(reads.suffixes)) if track else None)
        return out

    def stats(self) -> int:
        return self.parses


def parse_error_finding(error: ParseError) -> Finding:
    return Finding(error.path, error.line, error.column, error.line, error.column, PARSE_ERROR,
                   "parse-error", f"cannot parse: {error.message}")


def _serve(conn, cache_dir) -> None:
    gc.disable()  # see runner.run: the kept trees make every full collection slower
    worker = Worker(cache_dir)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        name, args = message
        try:
            conn.send(("ok", getattr(worker, name)(*args)))
        except BaseException:
            conn.send(("error", traceback.format_exc()))


class Pool:
    """`size` worker processes; `owner[path]` is the worker holding a parsed file."""

    def __init__(self, size: int, cache_dir: Optional[tuple[str, str]]):
        import multiprocessing
        context = multiprocessing.get_context("fork")
        self.conns, self.procs = [], []
        for _ in range(size):
            parent, child = context.Pipe()
            proc = context.Process(target=_serve, args=(child, cache_dir), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        self.owner: dict[str, int] = {}

    @property
    def size(self) -> int:
        return len(self.conns)

    def call(self, name: str, per_worker: list[Optional[tuple]]) -> list[Any]:
        """Send each worker its arguments (None: skip it), then gather the answers in order."""
        for conn, args in zip(self.conns, per_worker):
            if args is not None:
                conn.send((name, args))
        out = []
        for conn, args in zip(self.conns, per_worker):
            if args is None:
                out.append(None)
                continue
            status, value = conn.recv()
            if status != "ok":
                raise RuntimeError(f"sqlaguard worker failed:\n{value}")
            out.append(value)
        return out

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(None)
                conn.close()
            except OSError:
                pass
        for proc in self.procs:
            proc.join(timeout=5)


def split(paths: list[str], size: int, weight) -> list[list[str]]:
    """Largest first onto the least loaded bucket: balanced enough, and deterministic."""
    buckets: list[list[str]] = [[] for _ in range(size)]
    loads = [0] * size
    for path in sorted(paths, key=lambda p: (-weight(p), p)):
        i = loads.index(min(loads))
        buckets[i].append(path)
        loads[i] += weight(path)
    return buckets


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
