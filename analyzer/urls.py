"""Database URLs as the analyzer sees them: which dialect+driver an engine is given.

Only the scheme (`postgresql+psycopg2`) is ever taken from a URL, so nothing derived here can
carry a credential. A URL is followed through module constants (also imported from another
project module), the default of `os.getenv` / `os.environ.get`, `make_url(...)`, f-strings with a
literal scheme, and `URL.create("drivername", ...)`.
"""
from __future__ import annotations

import re
from typing import Optional

from .facts import ClassInfo, FuncInfo
from .index import ProjectIndex
from .values import Call, FStr, Ref, Str, Value

_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_.+-]*)://")
_MAX_DEPTH = 8

_GETENV = frozenset({"os.getenv", "os.environ.get", "os.environ.setdefault", "environ.get"})
_URL_CREATE = frozenset({"sqlalchemy.URL.create", "sqlalchemy.engine.URL.create", "sqlalchemy.engine.url.URL.create"})
_MAKE_URL = frozenset({"sqlalchemy.make_url", "sqlalchemy.engine.make_url", "sqlalchemy.engine.url.make_url"})

# Drivers that only work under create_async_engine / only under create_engine.
ASYNC_ONLY_DRIVERS = frozenset({"asyncpg", "aiosqlite", "aiomysql", "asyncmy", "psycopg_async", "aioodbc"})
SYNC_DRIVERS = frozenset({"psycopg2", "psycopg2cffi", "pg8000", "pysqlite", "pysqlcipher", "pymysql", "mysqldb",
                          "mysqlconnector", "mariadbconnector", "cymysql", "pyodbc", "pymssql", "cx_oracle"})
# A bare dialect leaves the driver to SQLAlchemy's default, which is sync for these.
SYNC_DEFAULT_DRIVER = {"postgresql": "psycopg2", "mysql": "mysqldb", "mariadb": "mysqldb", "sqlite": "pysqlite",
                       "mssql": "pyodbc"}
ASYNC_ALTERNATIVE = {"postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite", "mysql": "mysql+aiomysql",
                     "mariadb": "mariadb+asyncmy", "mssql": "mssql+aioodbc", "oracle": "oracle+oracledb"}


def split_scheme(scheme: str) -> tuple[str, Optional[str]]:
    """`postgresql+psycopg2` -> ("postgresql", "psycopg2"); `sqlite` -> ("sqlite", None)."""
    dialect, _, driver = scheme.lower().partition("+")
    return dialect, (driver or None)


def scheme_of(index: ProjectIndex, value: Optional[Value], depth: int = 0) -> Optional[str]:
    """The `dialect[+driver]` a URL value is known to have, or None when it cannot be told."""
    if value is None or depth > _MAX_DEPTH:
        return None
    if isinstance(value, Str):
        match = _SCHEME.match(value.value)
        return match.group(1).lower() if match else None
    if isinstance(value, FStr):
        match = _SCHEME.match(value.prefix)
        return match.group(1).lower() if match else None
    if isinstance(value, Ref):
        resolved = index.resolve(value)
        symbol = resolved.symbol
        if resolved.attrs or symbol is None or isinstance(symbol, (FuncInfo, ClassInfo)):
            return None
        return scheme_of(index, symbol, depth + 1)
    if isinstance(value, Call):
        name = index.external_name(value.func) if isinstance(value.func, Ref) else None
        if name is None:
            return None
        if name in _GETENV:
            default = value.args[1] if len(value.args) > 1 else value.kwarg("default")
            return scheme_of(index, default, depth + 1)
        if name in _MAKE_URL:
            return scheme_of(index, value.args[0] if value.args else value.kwarg("name_or_url"), depth + 1)
        if name in _URL_CREATE:
            driver = value.args[0] if value.args else value.kwarg("drivername")
            driver = _follow_constant(index, driver, depth)
            if isinstance(driver, Str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.+-]*", driver.value):
                return driver.value.lower()
    return None


def _follow_constant(index: ProjectIndex, value: Optional[Value], depth: int) -> Optional[Value]:
    while isinstance(value, Ref) and depth <= _MAX_DEPTH:
        resolved = index.resolve(value)
        if resolved.attrs or resolved.symbol is None or isinstance(resolved.symbol, (FuncInfo, ClassInfo)):
            return None
        value, depth = resolved.symbol, depth + 1
    return value


def url_argument(call_value: Call, from_config: bool = False) -> Optional[Value]:
    """The URL given to create_engine / create_async_engine (first argument or `url=`); for
    engine_from_config only an explicit `url=` (the configuration dict is not followed)."""
    if from_config:
        return call_value.kwarg("url")
    return call_value.args[0] if call_value.args else call_value.kwarg("url")
