"""The pytest plugin, run for real: pytest in a subprocess on a small temporary project."""
import sys

import pytest

pytest_plugins = ["pytester"]

CONFTEST = '''
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import ForeignKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


class Base(DeclarativeBase):
    pass


class Shelf(Base):
    __tablename__ = "shelves"
    id: Mapped[int] = mapped_column(primary_key=True)
    items: Mapped[list["Item"]] = relationship()


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    shelf_id: Mapped[int] = mapped_column(ForeignKey("shelves.id"))


@pytest.fixture
def sqlaguard_engine(tmp_path):
    return create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/shop.db")


@pytest.fixture
def sqlaguard_app(sqlaguard_engine):
    factory = async_sessionmaker(sqlaguard_engine, expire_on_commit=False)
    app = FastAPI()

    async def get_session():
        async with factory() as session:
            yield session

    @app.post("/shelves")
    async def create(session: AsyncSession = Depends(get_session)):
        async with sqlaguard_engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        shelf = Shelf(items=[Item(), Item()])
        session.add(shelf)
        await session.commit()
        return {"id": shelf.id}

    @app.get("/good/{sid}")
    async def good(sid: int, session: AsyncSession = Depends(get_session)):
        shelf = await session.get(Shelf, sid, options=[selectinload(Shelf.items)])
        return len(shelf.items)

    @app.get("/bad/{sid}")
    async def bad(sid: int, session: AsyncSession = Depends(get_session)):
        shelf = await session.get(Shelf, sid)
        return len(shelf.items)  # the lazy load

    return app


@pytest.fixture
def call(sqlaguard_app):
    import asyncio
    import httpx

    def run(path):
        async def go():
            transport = httpx.ASGITransport(app=sqlaguard_app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                sid = (await client.post("/shelves")).json()["id"]
                return (await client.get(path.format(sid=sid))).status_code
        return asyncio.run(go())

    return run
'''

TESTS = '''
import pytest


def test_good(call):
    assert call("/good/{sid}") == 200


def test_bad(call):
    assert call("/bad/{sid}") == 500


def test_without_app():
    assert True
'''


@pytest.fixture
def project(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_shop=TESTS)
    return pytester


def test_inert_without_the_option(project):
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    assert "SQR" not in result.stdout.str()


def test_option_fails_the_faulty_test_with_a_report(project):
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--sqlaguard", "--sqlaguard-ignore=SQR501")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(["*test_bad*", "*sqlaguard: 1 runtime finding(s)*",
                                 "*SQR401 lazy-load in GET /bad/{sid} at conftest.py:*"])
    written = (project.path / "conftest.py").read_text().splitlines()
    line = next(i for i, text in enumerate(written, start=1) if "# the lazy load" in text)
    assert f"conftest.py:{line}" in out and "Shelf.items" in out
    assert "FAILED test_shop.py::test_good" not in out


def test_marker_enables_one_test_and_select_narrows(project):
    project.makepyfile(test_marked='''
import pytest


@pytest.mark.sqlaguard(select=["SQR303"])
def test_bad_but_only_leaks_checked(call):
    assert call("/bad/{sid}") == 500


@pytest.mark.sqlaguard(ignore=["SQR501"])
def test_bad_marked(call):
    assert call("/bad/{sid}") == 500


def test_fixture_yields_the_monitor(sqlaguard, call):
    assert call("/good/{sid}") == 200
    assert sqlaguard.findings == []
''')
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "test_marked.py")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*FAILED test_marked.py::test_bad_marked*"])


def test_plugin_module_imports_nothing_heavy():
    import subprocess

    code = ("import sys, sqlaguard.runtime.pytest_plugin; "
            "heavy = [m for m in ('sqlalchemy', 'starlette', 'fastapi', 'greenlet') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
