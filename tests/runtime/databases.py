"""Real databases for the runtime tests: a temp aiosqlite file, and a fresh PostgreSQL database."""
from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from sqlalchemy.engine import make_url

PG_URL = os.getenv("SQLAGUARD_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PG_HOWTO = ("start PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) or point SQLAGUARD_PG_URL at one "
            "(postgresql+asyncpg://user@host:port/db); SQLAGUARD_REQUIRE_PG=1 turns this skip into a failure")


def _asyncpg_dsn(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(make_url(PG_URL)), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database() -> str:
    """A fresh database per test session, so parallel runs never share tables."""
    name = f"sqlaguard_rt_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server, or no right to create databases
        masked = make_url(PG_URL).render_as_string(hide_password=True)
        reason = f"PostgreSQL at {masked} is not usable ({type(exc).__name__}: {exc}); {PG_HOWTO}"
        if os.getenv("SQLAGUARD_REQUIRE_PG") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
