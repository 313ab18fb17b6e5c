from __future__ import annotations

from typing import Optional

import libcst as cst

from ..engines import ASYNC_ENGINE_FUNCTIONS, call_names, callee_name
from ..redact import mask_urls
from ..rule import Rule
from ..urls import ASYNC_ALTERNATIVE, SYNC_DEFAULT_DRIVER, SYNC_DRIVERS, scheme_of, split_scheme, url_argument
from ..values import Call

_NAMES = ("create_async_engine", "async_engine_from_config")
_ASYNC_ERROR = "The asyncio extension requires an async driver to be used. The loaded '{}' is not async."


class SyncDriverUrl(Rule):
    code = "SQA102"
    name = "sync-driver-url"
    message = "async engine given a sync driver URL: use an async driver (postgresql+asyncpg, sqlite+aiosqlite, ...)"
    explain = """\
What it does: flags `create_async_engine(url)` whose URL names a sync DBAPI driver:
`postgresql+psycopg2`, `sqlite://` / `sqlite+pysqlite`, `mysql+pymysql`, `mysql+mysqldb`,
`mssql+pyodbc`, ... The URL is followed through module constants (also imported from another
module of the project), the default of `os.getenv` / `os.environ.get`, f-strings with a literal
scheme, `make_url(...)` and `URL.create("drivername", ...)`. Only the scheme is ever printed:
credentials in the URL never appear in the output.

Why it breaks: the asyncio extension needs a driver with an asyncio API. Creating the engine fails
at import time with
    sqlalchemy.exc.InvalidRequestError: The asyncio extension requires an async driver to be used.
    The loaded 'pysqlite' is not async.
A bare `postgresql://` leaves the driver to SQLAlchemy's default: on SQLAlchemy 2.0 that is
psycopg2, which is sync, so the engine fails with "The loaded 'psycopg2' is not async." (on 2.1
the default is psycopg 3, which works only if `psycopg` is installed). A bare `mysql://` picks
mysqlclient (MySQLdb), which is sync on every version.

Instead: name an async driver: `postgresql+asyncpg://`, `postgresql+psycopg://` (psycopg 3),
`sqlite+aiosqlite://`, `mysql+aiomysql://` or `mysql+asyncmy://`, `mssql+aioodbc://`.
"""
    valid = (
        """\
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://app:secret@db/app")
""",
        """\
import os
from sqlalchemy.ext.asyncio import create_async_engine

DATABASE_URL = os.getenv("DATABASE_URL", "sqlite:///./app.db").replace("sqlite://", "sqlite+aiosqlite://")
engine = create_async_engine(DATABASE_URL)
""",
        """\
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

sync_engine = create_engine("postgresql+psycopg2://app@db/app")  # a sync engine may use a sync driver
engine = create_async_engine("postgresql+psycopg://app@db/app")  # psycopg 3 has an asyncio API
""",
        """\
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

url = URL.create("sqlite+aiosqlite", database="app.db")
engine = create_async_engine(url)
""",
    )
    invalid = (
        """\
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+psycopg2://app:secret@db/app")  # error: SQA102
""",
        """\
import os
from sqlalchemy.ext.asyncio import create_async_engine

DATABASE_URL = os.getenv("DATABASE_URL", "postgresql://app@localhost/app")
engine = create_async_engine(DATABASE_URL, pool_pre_ping=True)  # error: SQA102
""",
        """\
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine as make_engine

engine = make_engine(URL.create("mysql+pymysql", username="app", host="db", database="app"))  # error: SQA102
""",
        """\
# file: app/config.py
SQLALCHEMY_DATABASE_URL = "sqlite:///./test.db"
# file: app/database.py
from sqlalchemy.ext.asyncio import create_async_engine
from app.config import SQLALCHEMY_DATABASE_URL

engine = create_async_engine(SQLALCHEMY_DATABASE_URL)  # error: SQA102
""",
        """\
from sqlalchemy.ext.asyncio import create_async_engine

def make_engine(host: str, password: str):
    return create_async_engine(f"mssql+pyodbc://sa:{password}@{host}/app")  # error: SQA102
""",
    )

    _names = None

    def visit_Call(self, node: cst.Call) -> None:
        if self._names is None:
            self._names = call_names(self.ctx.facts, _NAMES)
        if callee_name(node.func) not in self._names:
            return
        if self.ctx.kind(node.func) not in ASYNC_ENGINE_FUNCTIONS:
            return
        value = self.ctx.value(node)
        if not isinstance(value, Call):
            return
        kind = self.ctx.index.kind(value.func)
        scheme = scheme_of(self.ctx.index, url_argument(value, kind == "fn:async_engine_from_config"))
        if scheme is None:
            return
        message = self._message(scheme)
        if message is not None:
            self.report(node, mask_urls(message))

    @staticmethod
    def _message(scheme: str) -> Optional[str]:
        dialect, driver = split_scheme(scheme)
        fix = ASYNC_ALTERNATIVE.get(dialect, f"{dialect}+<async driver>")
        if driver is None:
            default = SYNC_DEFAULT_DRIVER.get(dialect)
            if default is None:
                return None
            if dialect == "postgresql":
                return (f"`{dialect}://` names no driver: SQLAlchemy 2.0 picks psycopg2, which is sync, and "
                        f"create_async_engine fails with \"{_ASYNC_ERROR.format(default)}\" (2.1 picks psycopg 3, "
                        f"which works only if psycopg is installed); write `{fix}://`")
            return (f"`{dialect}://` names no driver: SQLAlchemy picks {default}, which is sync, and "
                    f"create_async_engine fails with \"{_ASYNC_ERROR.format(default)}\"; write `{fix}://`")
        if driver in SYNC_DRIVERS:
            return (f"`{dialect}+{driver}` is a sync driver: create_async_engine fails with "
                    f"\"{_ASYNC_ERROR.format(driver)}\"; use `{fix}`")
        return None

