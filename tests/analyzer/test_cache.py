"""The persistent cache, through the real CLI: what a warm run parses, what a change re-checks,
and that whatever the cache holds, the findings are those of a scan without it."""
from __future__ import annotations

import glob
import os
import subprocess
import sys

from perf_helpers import edit, scan, write_project

DATABASE = """\
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    engine = create_async_engine("sqlite+aiosqlite:///./app.db")
    SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
    """
DEPS = """\
    from typing import Annotated

    from fastapi import Depends
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.database import SessionLocal


    async def get_db():
        async with SessionLocal() as session:
            yield session

    DB = Annotated[AsyncSession, Depends(get_db)]
    """
ROUTES = """\
    from fastapi import APIRouter

    from app.deps import DB

    router = APIRouter()


    @router.get("/users")
    async def users(db: DB):
        return db.query(User).all()
    """
REPORTS = """\
    from app.database import SessionLocal


    async def nightly():
        async with SessionLocal() as s:
            return s.query(Order).count()
    """
UNRELATED = """\
    import asyncio


    async def tick():
        await asyncio.sleep(1)
    """
PROJECT = {"app/__init__.py": "", "app/database.py": DATABASE, "app/deps.py": DEPS, "app/routes.py": ROUTES,
           "app/reports.py": REPORTS, "app/tick.py": UNRELATED}


def make(tmp_path) -> str:
    root = str(tmp_path)
    write_project(root, PROJECT)
    return root


def test_warm_run_parses_nothing(tmp_path):
    root = make(tmp_path)
    cold, stats, _ = scan(root)
    assert {(p, code) for p, _, _, code in cold} == {("app/routes.py", "SQA201"), ("app/reports.py", "SQA201")}
    assert stats["parsed"] > 0 and not stats["fast_path"]
    warm, stats, _ = scan(root)
    assert warm == cold
    assert stats["parsed"] == 0 and stats["checked"] == 0 and stats["fast_path"]


def test_changed_file_rechecks_only_itself_when_its_facts_are_unchanged(tmp_path):
    root = make(tmp_path)
    cold, _, _ = scan(root)
    edit(root, "app/database.py", 'expire_on_commit=False)\n', 'expire_on_commit=False)  # tuned\n')
    after, stats, _ = scan(root)
    assert after == cold
    assert stats["parsed"] == 1 and stats["checked"] == 1


def test_changed_facts_recheck_the_files_that_read_them(tmp_path):
    """With a rule that only asks the index about names it meets, the re-checked files are exactly
    those whose questions touched the changed module."""
    root = make(tmp_path)
    scan(root, select="SQA201")
    # the factory becomes a sync one
    edit(root, "app/database.py", "SessionLocal = async_sessionmaker(engine, expire_on_commit=False)",
         "from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker(engine)")
    after, stats, _ = scan(root, select="SQA201")
    fresh, _, _ = scan(root, "--no-cache", select="SQA201")
    assert after == fresh
    # reports.py's session now comes from a sync factory; routes.py's annotation still says AsyncSession
    assert {p for p, _, _, _ in after} == {"app/routes.py"}
    # re-checked: database.py (changed) and reports.py (its `.query` receiver's kind read SessionLocal).
    # deps.py asked the index nothing; routes.py's kind came from the alias in deps.py, which did not
    # change; tick.py read nothing at all
    assert stats["checked"] == 2, stats
    assert stats["reused"] == 3, stats


def test_changed_facts_with_project_wide_rules(tmp_path):
    """Rules that consult project-wide tables (every async def, every dependency...) make a file
    depend on every module: still the findings of a scan without the cache."""
    root = make(tmp_path)
    scan(root)
    edit(root, "app/database.py", "SessionLocal = async_sessionmaker(engine, expire_on_commit=False)",
         "from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker(engine)")
    after, _, _ = scan(root)
    fresh, _, _ = scan(root, "--no-cache")
    assert after == fresh
    assert ("app/reports.py", "SQA501") in {(p, code) for p, _, _, code in after}


def test_a_change_of_one_route_leaves_the_others_cached(tmp_path):
    root = make(tmp_path)
    scan(root, select="SQA201")
    edit(root, "app/routes.py", "return db.query(User).all()", "return (await db.execute(select(User))).all()")
    after, stats, _ = scan(root, select="SQA201")
    assert [p for p, _, _, _ in after] == ["app/reports.py"]
    assert stats["checked"] == 1 and stats["parsed"] == 1


def test_new_file_making_an_import_ambiguous_is_noticed(tmp_path):
    """Which file `database` means depends on the files that exist: a read of the suffix table."""
    root = str(tmp_path)
    write_project(root, dict(PROJECT, **{"app/reports.py": REPORTS.replace("from app.database", "from database")}))
    before, _, _ = scan(root, select="SQA201")
    assert "app/reports.py" in {p for p, _, _, _ in before}
    # an equally near second `database` module: the index can no longer tell which one is meant
    os.makedirs(os.path.join(root, "app", "legacy"))
    with open(os.path.join(root, "app", "legacy", "database.py"), "w") as handle:
        handle.write("SessionLocal = None\n")
    after, stats, _ = scan(root, select="SQA201")
    fresh, _, _ = scan(root, "--no-cache", select="SQA201")
    assert after == fresh
    assert "app/reports.py" not in {p for p, _, _, _ in after}
    assert stats["reused"] >= 1  # and the files that never asked for `database` were not re-checked


def test_corrupt_entries_are_ignored(tmp_path):
    root = make(tmp_path)
    cold, _, _ = scan(root)
    cache_files = glob.glob(os.path.join(root, ".sqlaguard_cache", "**", "*.pkl"), recursive=True)
    assert len(cache_files) > 2
    for i, path in enumerate(sorted(cache_files)):
        with open(path, "wb") as handle:  # garbage, truncated pickle, empty
            handle.write([b"not a pickle", b"\x80\x05\x95\x10", b""][i % 3])
    again, stats, proc = scan(root)
    assert again == cold and "Traceback" not in proc.stderr
    assert stats["parsed"] > 0  # nothing usable: a cold run
    warm, stats, _ = scan(root)
    assert warm == cold and stats["fast_path"]


def test_corrupt_facts_of_an_unchanged_module_are_rebuilt(tmp_path):
    """The manifest is fine but a module's facts entry is garbage when a dependent needs it."""
    root = make(tmp_path)
    scan(root)
    for path in glob.glob(os.path.join(root, ".sqlaguard_cache", "facts", "*", "*.pkl")):
        with open(path, "wb") as handle:
            handle.write(b"garbage")
    edit(root, "app/deps.py", "yield session", "yield session  # the one session per request")
    edit(root, "app/database.py", "SessionLocal = async_sessionmaker(engine, expire_on_commit=False)",
         "from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker(engine)")
    after, _, proc = scan(root)
    fresh, _, _ = scan(root, "--no-cache")
    assert after == fresh and "Traceback" not in proc.stderr


def test_no_cache_writes_nothing(tmp_path):
    root = make(tmp_path)
    found, stats, _ = scan(root, "--no-cache")
    assert found and not os.path.exists(os.path.join(root, ".sqlaguard_cache"))
    assert stats["cache_writes"] == 0


def test_concurrent_runs_do_not_corrupt(tmp_path):
    root = make(tmp_path)
    expected, _, _ = scan(root, "--no-cache")
    env = dict(os.environ, SQLAGUARD_PARALLEL_MIN_BYTES="0")
    procs = [subprocess.Popen([sys.executable, "-m", "sqlaguard.analyzer", "check", ".", "--select", "ALL",
                               "--format", "json", "--exit-zero", "-j", str(1 + i % 2)],
                              cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for i in range(4)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    import json
    for out, _ in outputs:
        found = sorted((os.path.relpath(os.path.join(root, f["path"]), root), f["line"], f["column"], f["code"]) for f in json.loads(out))
        assert found == expected
    leftovers = glob.glob(os.path.join(root, ".sqlaguard_cache", "**", ".tmp-*"), recursive=True)
    assert leftovers == []
    warm, stats, _ = scan(root)
    assert warm == expected and stats["fast_path"]
