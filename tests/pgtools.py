"""The PostgreSQL server the tests use: its URL (SQLAGUARD_PG_URL), and what happens when none answers
(skip with how to enable it, or fail under SQLAGUARD_REQUIRE_PG=1, as .ci/run sets)."""
from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from typing import Iterator

import pytest

PG_URL = os.getenv("SQLAGUARD_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PG_HOWTO = ("start PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) or point SQLAGUARD_PG_URL at one "
            "(postgresql+asyncpg://user@host:port/db); SQLAGUARD_REQUIRE_PG=1 turns this skip into a failure")


def _asyncpg_dsn() -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)


async def admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def unusable(exc: Exception) -> None:
    """Skip (or, with SQLAGUARD_REQUIRE_PG=1, fail) because the server could not be used."""
    from sqlalchemy.engine import make_url

    masked = make_url(PG_URL).render_as_string(hide_password=True)
    reason = f"PostgreSQL at {masked} is not usable ({type(exc).__name__}: {exc}); {PG_HOWTO}"
    if os.getenv("SQLAGUARD_REQUIRE_PG") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.contextmanager
def pg_schema(prefix: str) -> Iterator[dict]:
    """A fresh schema for one test; yields asyncpg connect_args that make it the search path."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(admin(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # no server, or no right to create schemas
        unusable(exc)
    try:
        yield {"server_settings": {"search_path": schema}}
    finally:
        asyncio.run(admin(f'DROP SCHEMA "{schema}" CASCADE'))
