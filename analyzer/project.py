"""Project-level facts outside the Python files: declared dependencies and their versions."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Optional

from .config import load_toml

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


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
    extras = frozenset(e.strip().lower() for e in (match.group(2) or "").strip("[]").split(",") if e.strip())
    return Requirement(normalise(match.group(1)), extras, match.group(3).strip(), source)


def load_project_meta(root: Optional[str]) -> ProjectMeta:
    """Dependencies from pyproject.toml (PEP 621 and Poetry) and requirements*.txt at the root."""
    meta = ProjectMeta(root=root)
    if root is None:
        return meta
    pyproject = os.path.join(root, "pyproject.toml")
    if os.path.isfile(pyproject):
        try:
            data = load_toml(pyproject)
        except Exception:
            data = {}
        project = data.get("project", {})
        lines = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            lines.extend(extra)
        for group in data.get("dependency-groups", {}).values():
            lines.extend(x for x in group if isinstance(x, str))
        if lines:
            meta.found_declarations = True
        for line in lines:
            if isinstance(line, str) and (req := parse_requirement(line, pyproject)):
                meta.requirements.append(req)
        poetry = data.get("tool", {}).get("poetry", {})
        poetry_deps = dict(poetry.get("dependencies", {}))
        for group in poetry.get("group", {}).values():
            poetry_deps.update(group.get("dependencies", {}))
        for name, spec in poetry_deps.items():
            meta.found_declarations = True
            extras = frozenset(spec.get("extras", [])) if isinstance(spec, dict) else frozenset()
            version = spec.get("version", "") if isinstance(spec, dict) else str(spec)
            meta.requirements.append(Requirement(normalise(name), extras, version, pyproject))
    try:
        names = sorted(os.listdir(root))
    except OSError:
        names = []
    for name in names:
        if name.startswith("requirements") and name.endswith((".txt", ".in")):
            path = os.path.join(root, name)
            meta.found_declarations = True
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        if req := parse_requirement(line, path):
                            meta.requirements.append(req)
            except OSError:
                continue
    return meta
