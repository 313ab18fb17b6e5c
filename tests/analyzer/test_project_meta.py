"""Declared dependencies per project root: the nearest directory above a file that holds
pyproject.toml / setup.py / setup.cfg / requirements*.txt, read from real files on disk."""
from __future__ import annotations

import json
import textwrap

from sqlaguard.analyzer.project import MetaResolver, load_project_meta


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_nearest_root_wins(tmp_path):
    write(tmp_path / "pyproject.toml", '[project]\nname = "mono"\ndependencies = ["sqlalchemy[asyncio]"]\n')
    write(tmp_path / "services" / "billing" / "requirements.txt", "sqlalchemy==2.1.0\n")
    write(tmp_path / "services" / "billing" / "app" / "db.py", "")
    write(tmp_path / "libs" / "common" / "util.py", "")
    resolver = MetaResolver()
    billing = resolver.for_path(str(tmp_path / "services" / "billing" / "app" / "db.py"))
    common = resolver.for_path(str(tmp_path / "libs" / "common" / "util.py"))
    assert billing.root == str(tmp_path / "services" / "billing")
    assert [(r.name, r.extras) for r in billing.requirements] == [("sqlalchemy", frozenset())]
    assert common.root == str(tmp_path)
    assert common.requirement("SQLAlchemy")[0].extras == {"asyncio"}
    assert resolver.for_path(str(tmp_path / "libs" / "common" / "util.py")) is common  # loaded once per root


def test_requirements_includes_are_followed(tmp_path):
    write(tmp_path / "requirements.txt", "-r requirements/base.txt\n--requirement=requirements/extra.txt\npytest\n")
    write(tmp_path / "requirements" / "base.txt", "SQLAlchemy[postgresql_asyncpg]>=2.1  # pinned\n-r ../requirements.txt\n")
    write(tmp_path / "requirements" / "extra.txt", "greenlet==3.1.1 ; python_version >= '3.10'\n")
    meta = load_project_meta(str(tmp_path))
    names = sorted(r.name for r in meta.requirements)
    assert names == ["greenlet", "pytest", "sqlalchemy"]
    assert meta.requirement("sqlalchemy")[0].extras == {"postgresql-asyncpg"}


def test_poetry_and_lock_files(tmp_path):
    write(tmp_path / "pyproject.toml", """\
        [tool.poetry.dependencies]
        python = "^3.11"
        sqlalchemy = {version = "^2.1", extras = ["asyncio"]}

        [tool.poetry.group.dev.dependencies]
        pytest = "^8"
    """)
    write(tmp_path / "poetry.lock", '[[package]]\nname = "Greenlet"\nversion = "3.1.1"\n')
    write(tmp_path / "Pipfile.lock", json.dumps({"default": {"asyncpg": {"version": "==0.30.0"}}}))
    meta = load_project_meta(str(tmp_path))
    assert meta.found_declarations
    assert meta.requirement("sqlalchemy")[0].extras == {"asyncio"}
    assert meta.requirement("pytest")
    assert meta.locked == {"greenlet": "3.1.1", "asyncpg": "0.30.0"}


def test_no_declarations(tmp_path):
    write(tmp_path / "setup.cfg", "[metadata]\nname = x\n")
    meta = MetaResolver().for_path(str(tmp_path / "pkg" / "mod.py"))
    assert meta.root == str(tmp_path)
    assert not meta.found_declarations and not meta.requirements
    assert "[metadata]" in meta.unparsed


def test_in_memory_files():
    resolver = MetaResolver({"/p/requirements.txt": "sqlalchemy\n", "/p/app/db.py": "", "/q/x.py": ""})
    assert resolver.for_path("/p/app/db.py").requirement("sqlalchemy")
    assert resolver.for_path("/q/x.py").root is None


def test_pipfile(tmp_path):
    write(tmp_path / "Pipfile", """\
        [packages]
        fastapi = "*"
        sqlalchemy = {version = ">=2.1", extras = ["asyncio"]}

        [dev-packages]
        pytest = "*"
    """)
    meta = MetaResolver().for_path(str(tmp_path / "app" / "db.py"))
    assert meta.root == str(tmp_path)
    assert meta.requirement("sqlalchemy")[0].extras == {"asyncio"}
    assert sorted(r.name for r in meta.requirements) == ["fastapi", "pytest", "sqlalchemy"]
