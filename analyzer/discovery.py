"""Which files a scan reads: Python files under the given paths, minus the excluded ones."""
from __future__ import annotations

import fnmatch
import os
from typing import Iterator, Optional

DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn", ".bzr", ".venv", "venv", ".env", "env", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".sqlaguard_cache", "__pycache__", "__pypackages__", "build",
    "dist", "node_modules", "site-packages", ".eggs", "_build", "buck-out",
)


def _excluded(path: str, name: str, patterns: list[str], root: Optional[str]) -> bool:
    if name in DEFAULT_EXCLUDES or name.endswith(".egg-info"):
        return True
    if not patterns:
        return False
    relative = os.path.relpath(path, root).replace(os.sep, "/") if root else path
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(relative, p.rstrip("/")) for p in patterns)


def _excluded_with_ancestors(path: str, patterns: list[str], root: Optional[str]) -> bool:
    """For a path named on the command line with --force-exclude: it or a folder above it is excluded."""
    current = path
    top = os.path.abspath(root) if root else None
    while True:
        if _excluded(current, os.path.basename(current), patterns, root):
            return True
        parent = os.path.dirname(current)
        if parent == current or (top and not parent.startswith(top)) or parent == top:
            return False
        current = parent


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def discover(paths: list[str], exclude: list[str], root: Optional[str], force_exclude: bool = False) -> Iterator[str]:
    """Absolute paths of the Python files to scan, each once, in a stable order.

    As in ruff, a path named on the command line is scanned even where an exclude pattern matches
    it, unless `force_exclude` (what the pre-commit hook passes, since it names files one by one).
    """
    seen: set[str] = set()
    for given in paths:
        path = os.path.abspath(given)
        if force_exclude and _excluded_with_ancestors(path, exclude, root):
            continue
        if os.path.isfile(path):
            if path not in seen:
                seen.add(path)
                yield path
            continue
        for directory, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(
                d for d in dirnames
                if not _excluded(os.path.join(directory, d), d, exclude, root)
                and not _is_virtualenv(os.path.join(directory, d))
            )
            for filename in sorted(filenames):
                if not filename.endswith(".py"):
                    continue
                full = os.path.join(directory, filename)
                if full in seen or _excluded(full, filename, exclude, root):
                    continue
                seen.add(full)
                yield full
