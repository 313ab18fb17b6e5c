"""SQA401/SQA402 against the real thing: every case in fixtures/analyzer/sqa401/truth/lazy_app.py is
run on a seeded database (aiosqlite, and PostgreSQL through asyncpg), and exactly the cases marked
`# error:` must raise MissingGreenlet. test_fixtures.py checks that the analyzer flags exactly the
marked lines, so together: the analyzer flags a case if and only if it really breaks."""
from __future__ import annotations

import ast
import asyncio
import importlib.util
import os
import sys

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from clitools import ROOT
from expectations import expected_in_text
from pgtools import PG_URL, pg_schema

# A failed lazy load leaves the driver's cursor coroutine unawaited: expected in the failing cases.
pytestmark = pytest.mark.filterwarnings("ignore:coroutine '.*' was never awaited:RuntimeWarning")

TRUTH = os.path.join(ROOT, "fixtures", "analyzer", "sqa401", "truth", "lazy_app.py")


def _load():
    spec = importlib.util.spec_from_file_location("sqlaguard_lazy_truth_app", TRUTH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # SQLAlchemy resolves the string annotations through it
    spec.loader.exec_module(module)
    return module


def _marked(code: str) -> dict[str, bool]:
    """Function name -> whether a line of its body carries `# error: <code>`."""
    with open(TRUTH, encoding="utf-8") as handle:
        source = handle.read()
    lines = {line for line, c in expected_in_text(source) if c == code}
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.AsyncFunctionDef):
            out[node.name] = any(node.lineno <= line <= node.end_lineno for line in lines)
    return out


APP = _load()
CASES = sorted(name for name in _marked("SQA401") if name.startswith("case_"))
ROUTES = {"/lazy": "route_lazy", "/eager": "route_eager", "/list-lazy": "route_list_lazy",
          "/brief": "route_brief", "/nested-lazy": "route_nested_lazy", "/nested-eager": "route_nested_eager"}


def _is_missing_greenlet(exc: BaseException) -> bool:
    while exc is not None:
        if "greenlet_spawn has not been called" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


async def _seed(engine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(APP.Base.metadata.create_all)
    async with APP.SessionLocal(bind=engine) as session:
        city = APP.City(id=1, name="Lyon")
        user = APP.User(id=1, name="ada", addresses=[APP.Address(id=1, city=city), APP.Address(id=2, city=city)],
                        orders=[APP.Order(id=1)], notes=[APP.Note(id=1)])
        session.add_all([user, APP.Tag(id=1, label="x", owner=user)])
        await session.commit()


async def _outcomes(url: str, connect_args: dict) -> tuple[dict[str, bool], dict[str, bool]]:
    engine = create_async_engine(url, connect_args=connect_args)
    try:
        await _seed(engine)
        APP.SessionLocal.configure(bind=engine)
        cases = {}
        for name in CASES:
            async with APP.SessionLocal() as session:
                try:
                    await getattr(APP, name)(session)
                    cases[name] = False
                except Exception as exc:  # anything but MissingGreenlet is a broken case: re-raise
                    if not _is_missing_greenlet(exc):
                        raise
                    cases[name] = True
        routes = {}
        transport = httpx.ASGITransport(app=APP.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://truth") as client:
            for path, name in ROUTES.items():
                try:
                    response = await client.get(path)
                    assert response.status_code == 200, (path, response.status_code, response.text)
                    routes[name] = False
                except Exception as exc:
                    if not _is_missing_greenlet(exc):
                        raise
                    routes[name] = True
        return cases, routes
    finally:
        await engine.dispose()


def _check(url: str, connect_args: dict) -> None:
    cases, routes = asyncio.run(_outcomes(url, connect_args))
    marked401, marked402 = _marked("SQA401"), _marked("SQA402")
    assert cases == {name: marked401[name] for name in CASES}
    assert routes == {name: marked402[name] for name in ROUTES.values()}
    assert any(cases.values()) and not all(cases.values())
    assert any(routes.values()) and not all(routes.values())


def test_marked_cases_raise_on_aiosqlite(tmp_path):
    _check(f"sqlite+aiosqlite:///{tmp_path / 'truth.db'}", {})


def test_marked_cases_raise_on_postgres():
    with pg_schema("sqlaguard_truth") as connect_args:
        _check(PG_URL, connect_args)
