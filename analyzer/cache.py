"""The persistent cache in `.sqlaguard_cache/` at the project root (like ruff's).

Two kinds of entries:

* facts, one file per (path, content) digest under `facts/`: the first pass's ModuleFacts and
  their canonical digest. They do not depend on the selected rules, so every configuration
  shares them, and a warm run rebuilds the project index without parsing.
* results, one manifest per settings key (tool version, Python version, selected rules,
  per-file ignores, project metadata, prefilter): for every file its content digest, the
  findings, the source lines they quote, and what its check read from the index (see
  tracking.py) with the state each read had then. A file is re-checked only when its content
  changed or one of those reads would now answer differently.

Every write goes to a temporary file first and is moved into place with os.replace, so a
concurrent run sees either the old entry or the new one, never half of one; the last run to
finish wins the manifest, which is fine because every entry in it is self-consistent. An entry
that cannot be read (truncated, garbage, another version's format) is treated as missing.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Optional

FORMAT = 1
DIRNAME = ".sqlaguard_cache"


def content_key(path: str, data: bytes) -> str:
    """Facts hold the file's path (names are `<path>::name`), so the key covers path and bytes."""
    h = hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=16)
    h.update(b"\0")
    h.update(data)
    return h.hexdigest()


def _canonical(value: Any) -> Any:
    """A hash-seed independent form: sets sorted, dataclasses as (type name, fields...)."""
    if isinstance(value, (str, int, float, bool, type(None), bytes)):
        return value
    if isinstance(value, (tuple, list)):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, dict):
        return ("{", tuple((_canonical(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted((_canonical(v) for v in value), key=repr)))
    if dataclasses.is_dataclass(value):
        return (type(value).__name__,) + tuple(_canonical(getattr(value, f.name)) for f in dataclasses.fields(value))
    return (type(value).__name__, repr(value))


def facts_digest(facts: Any) -> str:
    data = pickle.dumps(_canonical(facts), protocol=pickle.HIGHEST_PROTOCOL)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def settings_key(*parts: Any) -> str:
    from . import __version__
    blob = repr((FORMAT, __version__, sys.version_info[:2], _canonical(parts)))
    return hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()


@dataclass
class FileEntry:
    key: str  # content_key
    relevant: bool  # passed the prefilter
    digest: Optional[str]  # facts digest; None when not parsed ("-") or a parse error ("!")
    state: str  # what other files' reads of this path see: the digest, "-" or "!"
    scan: Any  # the prefilter's per-file summary
    findings: list = field(default_factory=list)
    lines: dict = field(default_factory=dict)
    reads: dict = field(default_factory=dict)  # path -> state seen, or "suffix:<dotted>" -> candidates
    checked: bool = False  # findings and reads are filled in


def _atomic_write(path: str, data: bytes) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _load(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception:  # corrupt, truncated, or written by another version: as if missing
        return None


class Cache:
    def __init__(self, root: str, key: str):
        self.dir = os.path.join(root, DIRNAME)
        self.key = key
        self.manifest_path = os.path.join(self.dir, f"results-{key}.pkl")
        self.writes = 0  # for --stats / tests

    def _facts_path(self, ckey: str) -> str:
        return os.path.join(self.dir, "facts", ckey[:2], ckey + ".pkl")

    def load_manifest(self) -> dict[str, FileEntry]:
        data = _load(self.manifest_path)
        if not (isinstance(data, tuple) and len(data) == 2 and data[0] == FORMAT and isinstance(data[1], dict)):
            return {}
        return {p: e for p, e in data[1].items() if isinstance(e, FileEntry)}

    def save_manifest(self, entries: dict[str, FileEntry]) -> None:
        self._ensure_dir()
        _atomic_write(self.manifest_path, pickle.dumps((FORMAT, entries), protocol=pickle.HIGHEST_PROTOCOL))
        self.writes += 1

    def load_facts(self, ckey: str) -> Optional[tuple]:
        """(ModuleFacts, digest) or None."""
        data = _load(self._facts_path(ckey))
        if isinstance(data, tuple) and len(data) == 3 and data[0] == FORMAT and isinstance(data[2], str):
            return data[1], data[2]
        return None

    def has_facts(self, ckey: str) -> bool:
        return os.path.exists(self._facts_path(ckey))

    def save_facts(self, ckey: str, facts: Any, digest: str) -> None:
        self._ensure_dir()
        _atomic_write(self._facts_path(ckey), pickle.dumps((FORMAT, facts, digest), protocol=pickle.HIGHEST_PROTOCOL))
        self.writes += 1

    def _ensure_dir(self) -> None:
        if os.path.isdir(self.dir):
            return
        os.makedirs(self.dir, exist_ok=True)
        # like ruff: keep the cache out of version control and backups
        for name, text in (("CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n"), (".gitignore", "*\n")):
            try:
                with open(os.path.join(self.dir, name), "x") as handle:
                    handle.write(text)
            except OSError:
                pass
