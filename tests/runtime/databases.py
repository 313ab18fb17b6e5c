"""Real databases for the runtime tests: a temp aiosqlite file, and a fresh PostgreSQL database."""
from __future__ import annotations

import asyncio
import os
import uuid

from sqlalchemy.engine import make_url

from pgtools import PG_URL, unusable
from pgtools import admin as _admin


def create_pg_database() -> str:
    """A fresh database per test session, so parallel runs never share tables."""
    name = f"sqlaguard_rt_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server, or no right to create databases
        unusable(exc)
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
