from __future__ import annotations

import os
from typing import Optional

import libcst as cst

from ..index import ProjectIndex
from ..project import ProjectMeta
from ..rule import Rule
from ..values import Ref, dotted_name

_PACKAGE = "sqlalchemy.ext.asyncio"
# SQLAlchemy extras that pull in greenlet (they depend on sqlalchemy[asyncio]).
_GREENLET_EXTRAS = frozenset({"asyncio", "postgresql-asyncpg", "aiosqlite", "aiomysql", "asyncmy", "aioodbc"})
_ERROR = ("ImportError: The SQLAlchemy asyncio module requires that the Python 'greenlet' library is installed.")

def _first_importers(index: ProjectIndex) -> dict[Optional[str], str]:
    """Per project root: the first file (by path) that imports sqlalchemy.ext.asyncio at module level."""
    first: dict[Optional[str], str] = {}
    for path in sorted(index.modules):
        facts = index.modules[path]
        if any(isinstance(s, Ref) and s.target.startswith(_PACKAGE) for s in facts.symbols.values()):
            first.setdefault(index.meta_for(path).root, path)
    return first


def _declares_greenlet(meta: ProjectMeta) -> Optional[bool]:
    """True when the declarations bring greenlet, False when they do not, None when they cannot tell
    (nothing declared, or SQLAlchemy itself not declared: the real list lives somewhere else)."""
    if not meta.found_declarations:
        return None
    if "greenlet" in meta.locked or meta.requirement("greenlet"):
        return True
    text = meta.unparsed.lower()
    if "greenlet" in text or "sqlalchemy[asyncio" in text:
        return True
    sqlalchemy = meta.requirement("sqlalchemy")
    if any(r.extras & _GREENLET_EXTRAS for r in sqlalchemy):
        return True
    if not sqlalchemy and not meta.requirement("sqlmodel"):
        return None
    return False


class AsyncioExtraMissing(Rule):
    code = "SQA106"
    name = "asyncio-extra-missing"
    message = "sqlalchemy.ext.asyncio used but the declared dependencies name neither `sqlalchemy[asyncio]` nor `greenlet`"
    detail = ("the project imports sqlalchemy.ext.asyncio but its declared dependencies ({}) name neither "
               "`sqlalchemy[asyncio]` nor `greenlet`: SQLAlchemy 2.1 no longer installs greenlet (2.0 only on "
               "some platforms), and the first query fails with \"" + _ERROR + "\"; declare `sqlalchemy[asyncio]`")
    explain = """\
What it does: reports once per project (at the first `sqlalchemy.ext.asyncio` import, files in
path order) when the project's declared dependencies name neither `sqlalchemy[asyncio]` (or an
extra that includes it, like `sqlalchemy[postgresql-asyncpg]`) nor `greenlet`. The project is the
nearest directory above the file holding pyproject.toml (PEP 621, Poetry, uv), Pipfile, setup.py/setup.cfg
or requirements*.txt (`-r` includes are followed); a greenlet pin in poetry.lock, uv.lock,
pdm.lock or Pipfile.lock counts too. When the declarations do not mention SQLAlchemy at all, the
real list lives elsewhere and nothing is reported.

Why it breaks: the asyncio extension runs the sync ORM inside greenlets. SQLAlchemy 2.1 no longer
depends on greenlet (2.0 installed it only on some platforms: not on macOS arm64, for example),
so a fresh install from these declarations imports fine and fails at the first query:
    ImportError: The SQLAlchemy asyncio module requires that the Python 'greenlet' library is
    installed.  In order to ensure this dependency is available, use the 'sqlalchemy[asyncio]'
    install target:  'pip install sqlalchemy[asyncio]'

Instead: declare `sqlalchemy[asyncio]>=2.0` (or add `greenlet` next to `sqlalchemy`).
"""
    valid = (
        """\
# file: requirements.txt
fastapi>=0.110
sqlalchemy[asyncio]>=2.0
asyncpg
# file: app/database.py
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
""",
        """\
# file: pyproject.toml
[project]
name = "shop"
dependencies = ["fastapi", "SQLAlchemy>=2.1", "greenlet>=3", "aiosqlite"]
# file: app/database.py
from sqlalchemy.ext.asyncio import create_async_engine
""",
        """\
# file: requirements.txt
-r requirements/base.txt
pytest
# file: requirements/base.txt
SQLAlchemy[postgresql_asyncpg]==2.1.0
# file: app/database.py
from sqlalchemy.ext.asyncio import create_async_engine
""",
        """\
# file: requirements-dev.txt
pytest
ruff
# file: app/database.py
from sqlalchemy.ext.asyncio import create_async_engine  # SQLAlchemy is declared elsewhere: cannot tell
""",
    )
    invalid = (
        """\
# file: requirements.txt
fastapi==0.115.0
sqlalchemy==2.1.0
asyncpg==0.30.0
# file: app/database.py
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine  # error: SQA106
# file: app/models.py
from sqlalchemy.ext.asyncio import AsyncAttrs
""",
        """\
# file: pyproject.toml
[tool.poetry]
name = "shop"

[tool.poetry.dependencies]
python = "^3.12"
fastapi = "^0.115"
sqlalchemy = {version = "^2.1", extras = ["postgresql"]}
# file: shop/db.py
from sqlalchemy import text
from sqlalchemy.ext import asyncio as sa_asyncio  # error: SQA106
""",
        """\
# file: pyproject.toml
[project]
name = "shop"
dependencies = ["fastapi", "sqlmodel>=0.0.22", "aiosqlite"]
# file: shop/a_routes.py
from fastapi import APIRouter
# file: shop/b_db.py
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlalchemy.ext.asyncio import create_async_engine  # error: SQA106
""",
    )

    _first: Optional[bool] = None
    _done = False

    def _is_first_file(self) -> bool:
        if self._first is None:
            index = self.ctx.index
            meta = index.meta_for(self.ctx.path)
            self._meta = meta
            first = index.extension("sqa106.first_importers", _first_importers)
            self._first = (first.get(meta.root) == self.ctx.path
                           and _declares_greenlet(meta) is False)
        return self._first

    def visit_Import(self, node: cst.Import) -> None:
        if self._done or self.ctx.scope.kind != "module":
            return
        if any((dotted_name(a.name) or "").startswith(_PACKAGE) for a in node.names) and self._is_first_file():
            self._fire(node)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if self._done or self.ctx.scope.kind != "module" or node.relative or node.module is None:
            return
        module = dotted_name(node.module) or ""
        if module.startswith(_PACKAGE) or module == "sqlalchemy.ext" and not isinstance(node.names, cst.ImportStar) \
                and any(isinstance(a.name, cst.Name) and a.name.value == "asyncio" for a in node.names):
            if self._is_first_file():
                self._fire(node)

    def _fire(self, node: cst.CSTNode) -> None:
        self._done = True
        files = sorted({os.path.relpath(r.source, self._meta.root) for r in self._meta.requirements}) \
            if self._meta.root else []
        self.report(node, self.detail.format(", ".join(files) or "pyproject.toml"))
