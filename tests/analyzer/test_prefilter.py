"""The text pre-filter: what it reads from a file, and that skipping files never loses a finding."""
from __future__ import annotations

from perf_helpers import scan as run_scan
from perf_helpers import write_project

from sqlaguard.analyzer.prefilter import scan


def test_import_statements_are_read_in_all_their_forms():
    text = (b"import os, a.b as c\nfrom .x import (y,\n    z as w)\nfrom .. import q; import r\n"
            b"if TYPE_CHECKING: from s import t\nfrom u \\\n    import v\nfrom m import *\n"
            b"x = 'import nothing'\n")
    trigger, specs = scan(text)
    assert not trigger
    assert specs == ((0, "os", None), (0, "a.b", None), (1, "x", ("y", "z")), (2, "", ("q",)), (0, "r", None),
                     (0, "s", ("t",)), (0, "u", ("v",)), (0, "m", ()))


def test_trigger_words():
    assert scan(b"async def f(): pass\n")[0]
    assert scan(b"import time\ntime.sleep(1)\n")[0]
    assert not scan(b"def add(a, b):\n    return a + b\n")[0]


FILES = {
    "app/__init__.py": "",
    "app/database.py": """\
        from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
        from typing import Annotated
        from fastapi import Depends

        engine = create_async_engine("sqlite+aiosqlite:///./app.db")
        SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


        async def get_db():
            async with SessionLocal() as session:
                yield session

        DB = Annotated[AsyncSession, Depends(get_db)]
        """,
    # no trigger word at all, but it imports an AsyncSession alias: the backward step keeps it
    "app/legacy.py": """\
        from app.database import DB


        def count(db: DB):
            return db.query(User).count()  # error: SQA201
        """,
    # imported by a relevant file: its facts could matter (the forward step keeps it)
    "app/schemas.py": """\
        class UserOut:
            name: str
        """,
    "app/routes.py": """\
        from app.database import DB
        from app.schemas import UserOut


        async def users(db: DB) -> UserOut:
            return db.query(User).all()  # error: SQA201
        """,
    # nothing to do with the database, imported by nobody relevant: never parsed
    "app/textutil.py": """\
        def slug(text):
            return text.lower().replace(" ", "-")
        """,
    "app/cli.py": """\
        from app.textutil import slug

        print(slug("Hello World"))
        """,
}


def test_skipped_files_lose_no_finding(tmp_path):
    root = str(tmp_path)
    write_project(root, FILES)
    found, stats, _ = run_scan(root, "--no-cache")
    assert {(p, line) for p, line, _, _ in found} == {("app/legacy.py", 5), ("app/routes.py", 6)}
    # database, legacy, schemas, routes; not textutil.py, cli.py, nor the empty app/__init__.py that
    # no import resolves through (`app.database` names a file of its own)
    assert stats["relevant"] == 4, stats
    assert stats["parsed"] == 4, stats
    full, stats, _ = run_scan(root, "--no-cache", env={"SQLAGUARD_NO_PREFILTER": "1"})
    assert full == found and stats["parsed"] == 7
