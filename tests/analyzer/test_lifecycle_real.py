"""The session-lifecycle rules' claims, checked against the real thing: each mistake is both flagged
by the analyzer and really fails (or leaks) when run on real aiosqlite / PostgreSQL through asyncpg,
and its fix is both silent and works."""
from __future__ import annotations

import asyncio
import textwrap

import httpx
import pytest
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import close_all_sessions

from pgtools import PG_URL
from sqlaguard.analyzer.api import check_code



def _codes(source: str, code: str) -> list[int]:
    return [f.line for f in check_code(source, [code])]


def _raises_concurrent_use(run) -> None:
    """The concurrent-use error, possibly masked by a later one raised while closing the session
    (IllegalStateChangeError): look through the exception chain."""
    with pytest.raises(InvalidRequestError) as info:
        run()
    messages, error = [], info.value
    while error is not None:
        messages.append(str(error))
        error = error.__context__ or error.__cause__
    assert any("concurrent operations are not permitted" in m for m in messages), messages


def _load(source: str, **names) -> dict:
    namespace = dict(names)
    exec(compile(source, "<fixture>", "exec"), namespace)  # the very text the analyzer checked
    return namespace


GATHER_BAD = textwrap.dedent("""\
    import asyncio
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

    engine = create_async_engine(URL)
    SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

    async def dashboard():
        async with SessionLocal() as session:
            return await asyncio.gather(
                session.execute(text("select pg_sleep(0.05)")),
                session.execute(text("select 1")),
            )
""")

GATHER_GOOD = textwrap.dedent("""\
    import asyncio
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

    engine = create_async_engine(URL)
    SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

    async def one(sql):
        async with SessionLocal() as session:
            return (await session.execute(text(sql))).scalar()

    async def dashboard():
        return await asyncio.gather(one("select pg_sleep(0.05)"), one("select 1"))
""")


def test_gather_on_one_session_is_flagged_and_fails_on_asyncpg():
    assert _codes(GATHER_BAD, "SQA304") == [10]
    assert _codes(GATHER_GOOD, "SQA304") == []

    async def run(source):
        namespace = _load(source, URL=PG_URL)
        try:
            return await namespace["dashboard"]()
        finally:
            await namespace["engine"].dispose()

    _raises_concurrent_use(lambda: asyncio.run(run(GATHER_BAD)))
    assert asyncio.run(run(GATHER_GOOD))[1] == 1


UNCLOSED_BAD = textwrap.dedent("""\
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    engine = create_async_engine(URL)
    SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

    async def count():
        session = SessionLocal()
        return (await session.execute(text("select 1"))).scalar()
""")

UNCLOSED_GOOD = UNCLOSED_BAD.replace(
    '    session = SessionLocal()\n    return (await session.execute(text("select 1"))).scalar()\n',
    '    session = SessionLocal()\n    try:\n'
    '        return (await session.execute(text("select 1"))).scalar()\n'
    '    finally:\n        await session.close()\n')


def test_unclosed_session_is_flagged_and_keeps_a_connection_checked_out(tmp_path):
    assert _codes(UNCLOSED_BAD, "SQA303") == [8]
    assert _codes(UNCLOSED_GOOD, "SQA303") == []

    async def checked_out_after(source):
        namespace = _load(source, URL=f"sqlite+aiosqlite:///{tmp_path / 'leak.db'}")
        engine = namespace["engine"]
        try:
            assert await namespace["count"]() == 1
            return engine.pool.checkedout()
        finally:
            await close_all_sessions()  # give the leaked connection back before the loop ends
            await engine.dispose()

    assert asyncio.run(checked_out_after(UNCLOSED_BAD)) == 1
    assert asyncio.run(checked_out_after(UNCLOSED_GOOD)) == 0


APP_STATE_BAD = textwrap.dedent("""\
    from contextlib import asynccontextmanager
    from fastapi import FastAPI, Request
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    engine = create_async_engine(URL)
    SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.db = SessionLocal()
        yield
        await app.state.db.close()
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/slow")
    async def slow(request: Request):
        result = await request.app.state.db.execute(text("select pg_sleep(0.05), 1"))
        return {"value": result.one()[1]}
""")

APP_STATE_GOOD = APP_STATE_BAD.replace("app.state.db = SessionLocal()", "app.state.sessionmaker = SessionLocal") \
    .replace("    await app.state.db.close()\n", "") \
    .replace("    result = await request.app.state.db.execute(text(\"select pg_sleep(0.05), 1\"))\n",
             "    async with request.app.state.sessionmaker() as db:\n"
             "        result = await db.execute(text(\"select pg_sleep(0.05), 1\"))\n")
assert UNCLOSED_GOOD != UNCLOSED_BAD and "sessionmaker()" in APP_STATE_GOOD and ".close()" not in APP_STATE_GOOD


def test_session_on_app_state_is_flagged_and_breaks_concurrent_requests():
    assert _codes(APP_STATE_BAD, "SQA302") == [11]
    assert _codes(APP_STATE_GOOD, "SQA302") == []

    async def two_requests(source):
        app = _load(source, URL=PG_URL)["app"]
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                # both requests run to their end, so the lifespan's shutdown closes what they used
                return await asyncio.gather(client.get("/slow"), client.get("/slow"), return_exceptions=True)

    failures = [r for r in asyncio.run(two_requests(APP_STATE_BAD)) if isinstance(r, BaseException)]
    assert failures, "two overlapping requests on one shared session should not both succeed"
    _raises_concurrent_use(lambda: _reraise(failures[0]))
    responses = asyncio.run(two_requests(APP_STATE_GOOD))
    assert [r.json() for r in responses] == [{"value": 1}, {"value": 1}]


def _reraise(error: BaseException):
    raise error
