"""SQA202/SQA203/SQA205/SQA206 against the real thing: every `case_*` in
fixtures/analyzer/sqa202/truth/session_api.py runs on a real database (aiosqlite, and PostgreSQL
through asyncpg), and exactly the cases marked `# error: <code>` break, each the way its rule's
explain text says; every module-level factory marked SQA205 raises MissingGreenlet on an attribute
read after commit, and the unmarked ones do not. test_fixtures.py checks that the analyzer flags
exactly the marked lines: together, the analyzer flags a case if and only if it really breaks."""
from __future__ import annotations

import ast
import asyncio
import gc
import importlib.util
import inspect
import os
import sys
import warnings
from typing import Optional

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from clitools import ROOT
from expectations import expected_in_text
from pgtools import PG_URL, pg_schema

# A failing case can leave the driver's cursor coroutine unawaited, collected outside the case.
pytestmark = pytest.mark.filterwarnings("ignore:coroutine 'Connection.cursor' was never awaited:RuntimeWarning")

TRUTH = os.path.join(ROOT, "fixtures", "analyzer", "sqa202", "truth", "session_api.py")
CODES = ("SQA202", "SQA203", "SQA206")
# How each rule's mistake shows at runtime (the texts its explain quotes).
SIGNS = {
    "SQA202": ("'coroutine' object", "was never awaited", "returned a coroutine"),
    "SQA203": ("can't be used in 'await' expression",),
    "SQA206": ("is not persistent within this Session",),
}


def _load():
    spec = importlib.util.spec_from_file_location("sqlaguard_session_api_truth", TRUTH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _source() -> str:
    with open(TRUTH, encoding="utf-8") as handle:
        return handle.read()


def _marked_cases() -> dict[str, Optional[str]]:
    """case name -> the code marked inside it (at most one per case), or None."""
    marks = expected_in_text(_source())
    out = {}
    for node in ast.parse(_source()).body:
        if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("case_"):
            codes = {c for line, c in marks if node.lineno <= line <= node.end_lineno}
            assert len(codes) <= 1, (node.name, codes)
            out[node.name] = codes.pop() if codes else None
    return out


def _marked_factories() -> dict[str, bool]:
    """module-level factory name -> whether its line is marked SQA205."""
    lines = {line for line, c in expected_in_text(_source()) if c == "SQA205"}
    out = {}
    for node in ast.parse(_source()).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "async_sessionmaker"):
            out[node.targets[0].id] = node.lineno in lines
    return out


APP = _load()
CASES = _marked_cases()
FACTORIES = _marked_factories()


async def _run(name: str) -> str:
    """What went wrong in one case ("" when nothing did): the exception, a coroutine handed back,
    or a coroutine that was never awaited."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        problem = ""
        try:
            result = await getattr(APP, name)()
            if inspect.iscoroutine(result):
                result.close()
                problem = "returned a coroutine"
        except Exception as exc:  # the case's own failure is what is being observed
            problem = f"{type(exc).__name__}: {exc}"
        gc.collect()
    never = [str(w.message) for w in caught if _ours_never_awaited(str(w.message))]
    return problem or "; ".join(never)


def _ours_never_awaited(message: str) -> bool:
    """A never-awaited coroutine of the session or of the truth module (not a driver's internals,
    which a failing case may leave behind)."""
    if not message.endswith("was never awaited") or "'" not in message:
        return False
    name = message.split("'")[1]
    return name.startswith("AsyncSession.") or hasattr(APP, name)


def _missing_greenlet(exc: BaseException) -> bool:
    while exc is not None:
        if "greenlet_spawn has not been called" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


async def _factory_breaks(factory: async_sessionmaker) -> bool:
    async with factory() as session:
        member = APP.Member(name="expiry")
        session.add(member)
        await session.commit()
        try:
            member.name
        except Exception as exc:
            if not _missing_greenlet(exc):
                raise
            return True
        finally:
            await session.rollback()
    return False


async def _outcomes(url: str, connect_args: dict) -> tuple[dict[str, str], dict[str, bool]]:
    engine = create_async_engine(url, connect_args=connect_args)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(APP.Base.metadata.create_all)
        for name in ("SessionLocal", *FACTORIES):
            getattr(APP, name).configure(bind=engine)
        async with APP.SessionLocal() as session:
            session.add(APP.Member(name="ada"))  # id 1: the cases get it
            await session.commit()
        cases = {name: await _run(name) for name in CASES}
        factories = {name: await _factory_breaks(getattr(APP, name)) for name in FACTORIES}
        return cases, factories
    finally:
        await engine.dispose()


def _check(url: str, connect_args: dict) -> None:
    cases, factories = asyncio.run(_outcomes(url, connect_args))
    for name, code in CASES.items():
        problem = cases[name]
        if code is None:
            assert problem == "", f"{name} is not marked but broke: {problem}"
        else:
            assert any(sign in problem for sign in SIGNS[code]), f"{name} is marked {code} but gave: {problem!r}"
    assert factories == FACTORIES
    for code in CODES:  # the file really holds both kinds for every rule
        assert code in CASES.values()
    assert None in CASES.values() and any(FACTORIES.values()) and not all(FACTORIES.values())


def test_marked_cases_break_on_aiosqlite(tmp_path):
    _check(f"sqlite+aiosqlite:///{tmp_path / 'truth.db'}", {})


def test_marked_cases_break_on_postgres():
    with pg_schema("sqlaguard_api_truth") as connect_args:
        _check(PG_URL, connect_args)
