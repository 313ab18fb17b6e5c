"""The ProjectMeta of the project a file belongs to: the nearest directory above it with a
pyproject.toml / setup.py / setup.cfg / requirements.txt, so that several apps scanned in one run
(a monorepo, the fixtures) each answer with their own declared dependencies."""
from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING

from .config import find_project_root
from .project import ProjectMeta, load_project_meta

if TYPE_CHECKING:
    from .index import ProjectIndex

_BY_INDEX: "weakref.WeakKeyDictionary[ProjectIndex, dict[str, ProjectMeta]]" = weakref.WeakKeyDictionary()


def meta_for_file(index: "ProjectIndex", path: str) -> ProjectMeta:
    """Loaded once per project root and run; the run's own meta when the file has no root of its own."""
    cache = _BY_INDEX.setdefault(index, {})
    directory = os.path.dirname(os.path.abspath(path))
    if directory in cache:
        return cache[directory]
    root = find_project_root(directory) if os.path.isdir(directory) else None
    if root is None or (index.meta.root and os.path.abspath(index.meta.root) == root):
        meta = index.meta
    else:
        meta = cache.get(root) or load_project_meta(root)
        cache[root] = meta
    cache[directory] = meta
    return meta
