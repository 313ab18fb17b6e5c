"""A whole scan: discover, pre-filter, parse each file once, build the index, check, cache.

The phases (see docs/perf.md for the measurements behind them):
1. read every file and hash it; if the cache's manifest has every file with the same bytes, the
   stored findings are the answer (no parse, no index);
2. pre-filter (prefilter.py): the files that can trigger a rule or feed the index;
3. facts: from the cache by content hash, or by parsing (in worker processes, which keep the
   parsed modules); the pre-filter's backward step may add files, which repeats this;
4. check every relevant file whose cached result is missing or stale (tracking.py records what
   each check read from the index; a cached result stays valid while those reads are unchanged),
   in the worker that parsed it;
5. write the cache: facts per content hash (by the workers), one manifest per settings key.

`SQLAGUARD_STATS=1` prints counters (files parsed, checked, reused...) to stderr as JSON.
"""
from __future__ import annotations

import ast
import gc
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from .cache import Cache, FileEntry, content_key, settings_key
from .catalog import static_rules
from .config import Config
from .discovery import discover
from .facts import ModuleFacts
from .finding import Finding
from .parallel import Worker, default_jobs, parse_error_finding, split
from .prefilter import InterestingNames, Prefilter, scan
from .project import MetaResolver, load_project_meta
from .selection import per_file_ignored
from .source import ParseError, parse, read_bytes
from .tracking import ALL, Lazy, tracked_index

# Below this many bytes to parse, forking workers costs more than it saves (measured: docs/perf.md).
# The environment variables exist for the tests (force the pool on tiny trees, compare the
# pre-filter's answer with a full scan) and for measuring.
PARALLEL_MIN_BYTES = int(os.environ.get("SQLAGUARD_PARALLEL_MIN_BYTES", 400_000))


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    lines: dict[tuple[str, int], str] = field(default_factory=dict)  # source text of reported lines
    files_scanned: int = 0
    files_failed: int = 0
    stats: dict[str, Any] = field(default_factory=dict)


class _Executor:
    """Parses and checks in this process or in a pool, chosen at the first real work."""

    def __init__(self, jobs: int, cache: Optional[Cache], sizes: dict[str, int]):
        self.jobs = jobs
        self.cache_dir = (os.path.dirname(cache.dir), cache.key) if cache else None
        self.sizes = sizes
        self.local: Optional[Worker] = None
        self.pool = None

    def _weight(self, path: str) -> int:
        return self.sizes.get(path, 0) + 1

    def _use_pool(self, paths: list[str]) -> bool:
        if self.pool is not None:
            return True
        if self.jobs < 2 or len(paths) < 2 or sum(self._weight(p) for p in paths) < PARALLEL_MIN_BYTES:
            return False
        from .parallel import Pool
        self.pool = Pool(min(self.jobs, len(paths)), self.cache_dir)
        return True

    def _worker(self) -> Worker:
        if self.local is None:
            self.local = Worker(self.cache_dir)
        return self.local

    def parse(self, items: list[tuple[str, str]]) -> dict[str, Any]:
        if not items:
            return {}
        keys = dict(items)
        if not self._use_pool(list(keys)):
            return self._worker().parse(items)
        buckets = split(list(keys), self.pool.size, self._weight)
        out: dict[str, Any] = {}
        answers = self.pool.call("parse", [([(p, keys[p]) for p in b],) if b else None for b in buckets])
        for i, answer in enumerate(answers):
            for path, result in (answer or {}).items():
                self.pool.owner[path] = i
                out[path] = result
        return out

    def check(self, paths: list[str], facts: dict[str, Any], meta, codes: list[str],
              ignores: dict[str, list[str]], track: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        local = [p for p in paths if self.local is not None and p in self.local.sources]
        rest = [p for p in paths if p not in set(local)]
        if rest and (self.pool is not None or self._use_pool(rest)):
            buckets: list[list[str]] = [[] for _ in range(self.pool.size)]
            unowned = []
            for path in rest:
                owner = self.pool.owner.get(path)
                (buckets[owner] if owner is not None else unowned).append(path)
            for i, extra in enumerate(split(unowned, self.pool.size, self._weight)):
                buckets[i].extend(extra)
            args = [(b, facts, meta, codes, ignores, track) if b else None for b in buckets]
            for answer in self.pool.call("check", args):
                out.update(answer or {})
        else:
            local += rest
        if local:
            out.update(self._worker().check(local, facts, meta, codes, ignores, track))
        return out

    def parses(self) -> int:
        total = self.local.parses if self.local is not None else 0
        if self.pool is not None:
            total += sum(self.pool.call("stats", [()] * self.pool.size))
        return total

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def run(paths: list[str], config: Config, selected: set[str], project_root: Optional[str] = None,
        force_exclude: bool = False, jobs: Optional[int] = None, use_cache: bool = True,
        prefilter: bool = True) -> Report:
    # A scan keeps millions of tree nodes alive until it ends; with the cyclic collector on, each
    # full collection walks all of them again (measured: 15-20% of the parse time and growing
    # with the project). Nothing a scan builds relies on cycles being freed early.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(paths, config, selected, project_root, force_exclude, jobs, use_cache, prefilter)
    finally:
        if enabled:
            gc.enable()


def _run(paths, config, selected, project_root, force_exclude, jobs, use_cache, prefilter) -> Report:
    started = time.perf_counter()
    prefilter = prefilter and not os.environ.get("SQLAGUARD_NO_PREFILTER")
    report = Report()
    files = list(discover(paths, config.exclude, config.root, force_exclude))
    codes = sorted(code for code in static_rules() if code in selected)
    meta = load_project_meta(project_root)
    ignores = {p: i for p in files if (i := per_file_ignored(p, config.root, config.per_file_ignores))}
    cache = None
    if use_cache:
        root = project_root or config.root or os.getcwd()
        cache = Cache(root, settings_key(codes, sorted(ignores.items()), meta, prefilter, _declarations(files)))

    datas: dict[str, bytes] = {}
    for path in files:
        data = read_bytes(path)
        if isinstance(data, ParseError):
            report.files_failed += 1
            report.findings.append(parse_error_finding(data))
        else:
            datas[path] = data
    keys = {p: content_key(p, d) for p, d in datas.items()} if cache else {p: "" for p in datas}
    manifest = cache.load_manifest() if cache else {}
    stats = report.stats = {"files": len(files), "parsed": 0, "checked": 0, "reused": 0, "fast_path": False,
                            "cache_writes": 0}

    if cache and manifest and set(manifest) == set(keys) and all(
            e.checked and e.key == keys[p] for p, e in manifest.items()):
        stats["fast_path"] = True
        _emit(report, manifest.values())
        return _finish(report, stats, started, cache)

    def same(path: str) -> Optional[FileEntry]:
        entry = manifest.get(path)
        return entry if entry is not None and entry.key == keys[path] else None

    mark = _Timer(stats)
    mark("read")
    scans = {p: (e.scan if (e := same(p)) is not None else scan(d)) for p, d in datas.items()}
    pf = Prefilter(scans)
    relevant = pf.initial() if prefilter else set(scans)

    executor = _Executor(jobs or default_jobs(), cache, {p: os.path.getsize(p) for p in relevant})
    facts: dict[str, Any] = {}  # path -> ModuleFacts, or Lazy (in the cache)
    digests: dict[str, str] = {}  # path -> facts digest, or "!" for a parse error
    errors: dict[str, Finding] = {}

    def obtain(wanted) -> None:
        need = []
        for path in sorted(wanted):
            entry = same(path)
            if entry is not None and entry.digest is not None:
                facts[path], digests[path] = Lazy(keys[path]), entry.digest
            elif entry is not None and entry.state == "!" and entry.checked:
                digests[path], errors[path] = "!", entry.findings[0]
            elif cache is not None and (loaded := cache.load_facts(keys[path])) is not None:
                facts[path], digests[path] = loaded
            else:
                need.append((path, keys[path]))
        stats["parsed"] += len(need)
        for path, result in executor.parse(need).items():
            if isinstance(result, ParseError):
                digests[path], errors[path] = "!", parse_error_finding(result)
            else:
                facts[path], digests[path] = result

    def loader(path: str, ckey: str) -> ModuleFacts:
        loaded = cache.load_facts(ckey) if cache else None
        if loaded is None:  # unreadable entry: parse once more
            result = executor.parse([(path, ckey)])[path]
            return ModuleFacts(path) if isinstance(result, ParseError) else result[0]
        facts[path] = loaded[0]
        return loaded[0]

    def index_facts() -> dict[str, Any]:
        return {p: facts.get(p) or ModuleFacts(p) for p in scans}

    mark("prefilter")
    try:
        obtain(relevant)
        mark("facts")
        while prefilter:
            index, _ = tracked_index(index_facts(), meta, loader, MetaResolver())
            new = pf.expand(relevant, InterestingNames(index))
            if not new:
                break
            obtain(new)
        mark("expand")

        states = {p: (digests.get(p, "!") if p in relevant else "-") for p in scans}
        everything: list[str] = []

        def current(key: str):
            if key.startswith("suffix:"):
                return tuple(sorted(pf.by_suffix.get(key[7:], ())))
            if key == ALL:
                if not everything:
                    everything.append(settings_key(sorted(states.items())))
                return everything[0]
            return states.get(key)

        entries: dict[str, FileEntry] = {}
        to_check = []
        for path in scans:
            entry = same(path)
            is_relevant = path in relevant
            state = states[path]
            if not is_relevant and path not in errors:
                # skipped by the pre-filter, but a syntax error is still reported, as in a full scan
                if entry is not None and not entry.relevant:
                    found = entry.findings
                else:
                    found = _syntax_errors(path, datas[path])
                if found:
                    errors[path] = found[0]
                entries[path] = FileEntry(keys[path], False, None, "!" if found else "-", scans[path], found,
                                          {}, {}, True)
            elif path in errors:
                found = [errors[path]]
                entries[path] = FileEntry(keys[path], is_relevant, None, state, scans[path], found, {}, {}, True)
            elif (entry is not None and entry.checked and entry.relevant
                  and all(current(k) == v for k, v in entry.reads.items())):
                stats["reused"] += 1
                entries[path] = entry
            else:
                entries[path] = FileEntry(keys[path], True, digests[path], state, scans[path])
                to_check.append(path)

        stats["checked"] = len(to_check)
        if to_check:
            shipped = ({p: Lazy(keys[p]) if p in digests and p not in errors else v
                        for p, v in index_facts().items()} if cache else index_facts())
            results = executor.check(to_check, shipped, meta, codes, ignores, cache is not None)
            for path, (found, lines, reads) in results.items():
                entry = entries[path]
                entry.findings, entry.lines, entry.checked = found, lines, True
                if reads is not None:
                    read_paths, read_suffixes = reads
                    entry.reads = {p: current(p) for p in read_paths if p != path}
                    entry.reads.update({f"suffix:{s}": current(f"suffix:{s}") for s in read_suffixes})
        mark("check")
        stats["parsed"] = executor.parses()
        stats["relevant"] = len(relevant)
        stats["workers"] = executor.pool.size if executor.pool is not None else 1
    finally:
        executor.close()

    _emit(report, entries.values())
    if cache is not None:
        try:
            cache.save_manifest(entries)
        except OSError:
            pass
    return _finish(report, stats, started, cache)


_DECLARATION_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "poetry.lock", "uv.lock", "pdm.lock", "Pipfile.lock")


def _declarations(files: list[str]) -> list[tuple]:
    """What the per-project metadata (project.MetaResolver: the nearest root above each file) is
    read from: the declaration files of every directory above a scanned file, and a requirements/
    folder's files (`-r requirements/base.txt`), by size and modification time. A change re-checks
    everything, as a change of settings does."""
    seen: set[str] = set()
    out = []
    for path in files:
        directory = os.path.dirname(path)
        while directory not in seen:
            seen.add(directory)
            try:
                names = os.listdir(directory)
            except OSError:
                names = []
            for name in sorted(names):
                if name in _DECLARATION_FILES or name.startswith(("requirements", "constraints")):
                    full = os.path.join(directory, name)
                    targets = [full]
                    if os.path.isdir(full):
                        targets = [os.path.join(full, n) for n in sorted(os.listdir(full))]
                    for target in targets:
                        try:
                            st = os.stat(target)
                        except OSError:
                            continue
                        out.append((target, st.st_size, st.st_mtime_ns))
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
    return out


def _syntax_errors(path: str, data: bytes) -> list[Finding]:
    """CPython's parser as a cheap gate (a fraction of libcst's cost); libcst only on failure, so
    the message is the one a full scan reports. (A file CPython accepts and libcst does not, newer
    syntax than libcst knows, is not reported here.)"""
    try:
        compile(data, path, "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        return []
    except (SyntaxError, ValueError, UnicodeDecodeError, LookupError):
        pass
    result = parse(path, data)
    return [parse_error_finding(result)] if isinstance(result, ParseError) else []


class _Timer:
    """Phase durations into the stats (`t_<phase>`, seconds since the previous mark)."""

    def __init__(self, stats: dict):
        self.stats, self.last = stats, time.perf_counter()

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        self.stats[f"t_{phase}"] = round(now - self.last, 3)
        self.last = now


def _emit(report: Report, entries) -> None:
    for entry in entries:
        report.findings.extend(entry.findings)
        report.lines.update(entry.lines)
        if entry.state == "!":
            report.files_failed += 1
        else:
            report.files_scanned += 1
    report.findings.sort(key=lambda f: f.sort_key)


def _finish(report: Report, stats: dict, started: float, cache: Optional[Cache]) -> Report:
    stats["cache_writes"] = cache.writes if cache else 0
    stats["seconds"] = round(time.perf_counter() - started, 4)
    if os.environ.get("SQLAGUARD_STATS"):
        sys.stderr.write("sqlaguard-stats " + json.dumps(stats, sort_keys=True) + "\n")
    return report


def display_path(path: str, cwd: Optional[str] = None) -> str:
    relative = os.path.relpath(path, cwd or os.getcwd())
    return path if relative.startswith("..") else relative
