"""Project-level facts outside the Python files: declared dependencies and their versions.

A scan may cover several projects (fixture apps side by side, a monorepo): each file belongs to
the nearest directory above it that holds pyproject.toml, setup.py/setup.cfg or requirements*.txt,
and `MetaResolver` loads that root's declarations once.
"""
from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Optional

from .config import load_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_INCLUDE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)(?:\s+|=)(\S+)")
_ROOT_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "Pipfile")
# Lock files list every installed package: they only count for the packages rules ask about.
_LOCK_FILES = ("poetry.lock", "uv.lock", "pdm.lock", "Pipfile.lock")


@dataclass
class Requirement:
    name: str  # normalised: lower case, '-' for '_' and '.'
    extras: frozenset[str]
    spec: str  # the version specifier text, e.g. '>=2.0' or '==0.110.0'
    source: str  # the file it was declared in


@dataclass
class ProjectMeta:
    root: Optional[str] = None
    requirements: list[Requirement] = field(default_factory=list)
    found_declarations: bool = False  # any pyproject dependency list or requirements file at all
    locked: dict[str, str] = field(default_factory=dict)  # package name -> version, from lock files
    unparsed: str = ""  # setup.py / setup.cfg text: declarations only searched for names, not parsed

    def requirement(self, name: str) -> list[Requirement]:
        name = normalise(name)
        return [r for r in self.requirements if r.name == name]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(line: str, source: str) -> Optional[Requirement]:
    line = line.split("#", 1)[0].split(";", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    match = _REQ.match(line)
    if not match:
        return None
    extras = frozenset(normalise(e.strip()) for e in (match.group(2) or "").strip("[]").split(",") if e.strip())
    return Requirement(normalise(match.group(1)), extras, match.group(3).strip(), source)


class _Disk:
    """The real file system."""

    @staticmethod
    def isfile(path: str) -> bool:
        return os.path.isfile(path)

    @staticmethod
    def listdir(directory: str) -> list[str]:
        try:
            return sorted(os.listdir(directory))
        except OSError:
            return []

    @staticmethod
    def read(path: str) -> Optional[str]:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return None


class _Memory:
    """In-memory files (snippets, editors): {path: text}."""

    def __init__(self, files: dict[str, str]):
        self.files = {os.path.normpath(p): t for p, t in files.items()}
        self.dirs: dict[str, list[str]] = {}
        for path in self.files:
            self.dirs.setdefault(os.path.dirname(path), []).append(os.path.basename(path))

    def isfile(self, path: str) -> bool:
        return os.path.normpath(path) in self.files

    def listdir(self, directory: str) -> list[str]:
        return sorted(self.dirs.get(os.path.normpath(directory), []))

    def read(self, path: str) -> Optional[str]:
        return self.files.get(os.path.normpath(path))


def _is_requirements(name: str) -> bool:
    return name.startswith("requirements") and name.endswith((".txt", ".in", ".lock"))


def is_root(directory: str, fs=_Disk) -> bool:
    if any(fs.isfile(os.path.join(directory, name)) for name in _ROOT_FILES):
        return True
    return any(_is_requirements(name) for name in fs.listdir(directory))


def load_project_meta(root: Optional[str], fs=_Disk) -> ProjectMeta:
    """Dependencies from pyproject.toml (PEP 621, Poetry, uv), requirements*.txt (following -r/-c),
    and greenlet-style pins from lock files at the root."""
    meta = ProjectMeta(root=root)
    if root is None:
        return meta
    pyproject = os.path.join(root, "pyproject.toml")
    text = fs.read(pyproject) if fs.isfile(pyproject) else None
    if text is not None:
        try:
            data = tomllib.loads(text)
        except Exception:
            data = {}
        _read_pyproject(data, pyproject, meta)
    names = fs.listdir(root)
    if "Pipfile" in names:
        _read_pipfile(os.path.join(root, "Pipfile"), meta, fs)
    for name in ("setup.py", "setup.cfg"):
        if name in names:
            meta.unparsed += fs.read(os.path.join(root, name)) or ""
    for name in names:
        if _is_requirements(name):
            meta.found_declarations = True
            _read_requirements(os.path.join(root, name), meta, fs, set())
    for name in names:
        if name in _LOCK_FILES:
            _read_lock(os.path.join(root, name), meta, fs)
    return meta


def _read_pyproject(data: dict, path: str, meta: ProjectMeta) -> None:
    project = data.get("project", {})
    lines = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    for group in data.get("dependency-groups", {}).values():
        lines.extend(x for x in group if isinstance(x, str))
    lines.extend(data.get("tool", {}).get("uv", {}).get("dev-dependencies", []))
    if lines:
        meta.found_declarations = True
    for line in lines:
        if isinstance(line, str) and (req := parse_requirement(line, path)):
            meta.requirements.append(req)
    poetry = data.get("tool", {}).get("poetry", {})
    poetry_deps = dict(poetry.get("dependencies", {}))
    poetry_deps.update(poetry.get("dev-dependencies", {}))
    for group in poetry.get("group", {}).values():
        poetry_deps.update(group.get("dependencies", {}))
    for name, spec in poetry_deps.items():
        meta.found_declarations = True
        specs = spec if isinstance(spec, list) else [spec]  # multiple-constraint form
        for one in specs:
            extras = frozenset(normalise(e) for e in one.get("extras", [])) if isinstance(one, dict) else frozenset()
            version = one.get("version", "") if isinstance(one, dict) else str(one)
            meta.requirements.append(Requirement(normalise(name), extras, version, path))


def _read_pipfile(path: str, meta: ProjectMeta, fs) -> None:
    try:
        data = tomllib.loads(fs.read(path) or "")
    except Exception:
        return
    for section in ("packages", "dev-packages"):
        for name, spec in (data.get(section) or {}).items():
            meta.found_declarations = True
            extras = frozenset(normalise(e) for e in spec.get("extras", [])) if isinstance(spec, dict) else frozenset()
            version = spec.get("version", "") if isinstance(spec, dict) else str(spec)
            meta.requirements.append(Requirement(normalise(name), extras, version, path))


def _read_requirements(path: str, meta: ProjectMeta, fs, seen: set[str]) -> None:
    if path in seen or len(seen) > 20:
        return
    seen.add(path)
    text = fs.read(path)
    if text is None:
        return
    for line in text.splitlines():
        include = _INCLUDE.match(line)
        if include:
            _read_requirements(os.path.normpath(os.path.join(os.path.dirname(path), include.group(1))),
                               meta, fs, seen)
        elif req := parse_requirement(line, path):
            meta.requirements.append(req)
            if path.endswith(".lock") and req.spec.startswith("==") and "," not in req.spec:
                # rye / pip-compile lock files: `name==version` lines are exact versions
                meta.locked.setdefault(req.name, req.spec[2:].strip())


def _read_lock(path: str, meta: ProjectMeta, fs) -> None:
    text = fs.read(path)
    if text is None:
        return
    packages: dict[str, str] = {}
    try:
        if path.endswith("Pipfile.lock"):
            data = json.loads(text)
            for section in ("default", "develop"):
                for name, info in (data.get(section) or {}).items():
                    packages[normalise(name)] = str((info or {}).get("version", "")).lstrip("=")
        else:
            for package in tomllib.loads(text).get("package", []):
                if isinstance(package, dict) and "name" in package:
                    packages[normalise(str(package["name"]))] = str(package.get("version", ""))
    except Exception:  # a corrupt lock file declares nothing
        return
    meta.found_declarations = True
    for name, version in packages.items():
        meta.locked.setdefault(name, version)


class MetaResolver:
    """The ProjectMeta of the project each file belongs to, loaded once per project root."""

    def __init__(self, files: Optional[dict[str, str]] = None):
        self.fs = _Memory(files) if files is not None else _Disk
        self._root_of_dir: dict[str, Optional[str]] = {}
        self._metas: dict[Optional[str], ProjectMeta] = {}

    def root_for(self, path: str) -> Optional[str]:
        directory = os.path.dirname(os.path.abspath(path))
        walked = []
        root: Optional[str] = None
        while True:
            if directory in self._root_of_dir:
                root = self._root_of_dir[directory]
                break
            walked.append(directory)
            if is_root(directory, self.fs):
                root = directory
                break
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        for d in walked:
            self._root_of_dir[d] = root
        return root

    def for_path(self, path: str) -> ProjectMeta:
        root = self.root_for(path)
        meta = self._metas.get(root)
        if meta is None:
            meta = self._metas[root] = load_project_meta(root, self.fs)
        return meta


__all__ = ["MetaResolver", "ProjectMeta", "Requirement", "load_project_meta", "normalise", "parse_requirement",
           "load_toml"]
