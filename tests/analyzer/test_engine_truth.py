"""Ground truth for the engine rules: every case is run against real SQLAlchemy (aiosqlite, and
PostgreSQL through asyncpg) and must be flagged exactly when creating or first using its engine
really fails."""
from __future__ import annotations

import asyncio
import textwrap

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pgtools import PG_URL as PG
from sqlaguard.analyzer.api import check_code

RULES = ("SQA102", "SQA103", "SQA105")

CASES = {
    # SQA102: an async engine given a sync driver
    "bare-sqlite": ("SQA102", 'from sqlalchemy.ext.asyncio import create_async_engine\n'
                              'engine = create_async_engine("sqlite://")'),
    "pysqlite": ("SQA102", 'from sqlalchemy.ext.asyncio import create_async_engine\n'
                           'engine = create_async_engine("sqlite+pysqlite:///:memory:")'),
    "getenv-default": ("SQA102", 'import os\nfrom sqlalchemy.ext.asyncio import create_async_engine\n'
                                 'URL = os.getenv("SQLAGUARD_TRUTH_UNSET", "sqlite:///:memory:")\n'
                                 'engine = create_async_engine(URL)'),
    "url-create": ("SQA102", 'from sqlalchemy import URL\nfrom sqlalchemy.ext.asyncio import create_async_engine\n'
                             'engine = create_async_engine(URL.create("sqlite+pysqlite", database=":memory:"))'),
    "f-string": ("SQA102", 'from sqlalchemy.ext.asyncio import create_async_engine\nNAME = ":memory:"\n'
                           'engine = create_async_engine(f"sqlite:///{NAME}")'),
    "aiosqlite": (None, 'from sqlalchemy.ext.asyncio import create_async_engine\n'
                        'engine = create_async_engine("sqlite+aiosqlite://")'),
    "asyncpg": (None, f'from sqlalchemy.ext.asyncio import create_async_engine\nengine = create_async_engine("{PG}")'),
    "rewritten-default": (None, 'import os\nfrom sqlalchemy.ext.asyncio import create_async_engine\n'
                                'URL = os.getenv("SQLAGUARD_TRUTH_UNSET", "sqlite://").replace("sqlite://", '
                                '"sqlite+aiosqlite://")\nengine = create_async_engine(URL)'),
    # SQA103: a thread pool class given to an async engine
    "queuepool": ("SQA103", 'from sqlalchemy.ext.asyncio import create_async_engine\n'
                            'from sqlalchemy.pool import QueuePool\n'
                            f'engine = create_async_engine("{PG}", poolclass=QueuePool)'),
    "singletonthreadpool": ("SQA103", 'from sqlalchemy import pool\n'
                                      'from sqlalchemy.ext.asyncio import create_async_engine\n'
                                      'engine = create_async_engine("sqlite+aiosqlite://", '
                                      'poolclass=pool.SingletonThreadPool)'),
    "queuepool-subclass": ("SQA103", 'from sqlalchemy.ext.asyncio import create_async_engine\n'
                                     'from sqlalchemy.pool import QueuePool\n'
                                     'class Metered(QueuePool):\n    pass\n'
                                     'engine = create_async_engine("sqlite+aiosqlite://", poolclass=Metered)'),
    "nullpool": (None, 'from sqlalchemy.ext.asyncio import create_async_engine\nfrom sqlalchemy.pool import NullPool\n'
                       f'engine = create_async_engine("{PG}", poolclass=NullPool)'),
    "staticpool": (None, 'from sqlalchemy.ext.asyncio import create_async_engine\n'
                         'from sqlalchemy.pool import StaticPool\n'
                         'engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)'),
    "asyncadaptedqueuepool": (None, 'from sqlalchemy import AsyncAdaptedQueuePool\n'
                                    'from sqlalchemy.ext.asyncio import create_async_engine\n'
                                    f'engine = create_async_engine("{PG}", poolclass=AsyncAdaptedQueuePool)'),
    # SQA105: a sync engine given an async driver
    "sync-aiosqlite": ("SQA105", 'from sqlalchemy import create_engine\n'
                                 'engine = create_engine("sqlite+aiosqlite://")'),
    "sync-asyncpg": ("SQA105", f'import sqlalchemy as sa\nengine = sa.create_engine("{PG}")'),
    "sync-pysqlite": (None, 'from sqlalchemy import create_engine\nengine = create_engine("sqlite://")'),
    "wrapped": (None, 'from sqlalchemy import create_engine\nfrom sqlalchemy.ext.asyncio import AsyncEngine\n'
                      'engine = AsyncEngine(create_engine("sqlite+aiosqlite://"))'),
    "wrapped-later": (None, 'from sqlalchemy import create_engine\nfrom sqlalchemy.ext.asyncio import AsyncEngine\n'
                            f'sync_engine = create_engine("{PG}")\nengine = AsyncEngine(sync_engine)'),
}


def really_fails(code: str) -> bool:
    """Create the module's `engine` and run one query on it, the way its kind is meant to be used."""
    namespace: dict = {}
    try:
        exec(compile(code, "<case>", "exec"), namespace)
        engine = namespace["engine"]
        if isinstance(engine, AsyncEngine):
            async def use():
                try:
                    async with engine.connect() as conn:
                        await conn.execute(text("select 1"))
                finally:
                    await engine.dispose()
            asyncio.run(use())
        else:
            try:
                with engine.connect() as conn:
                    conn.execute(text("select 1"))
            finally:
                engine.dispose()
    except Exception:
        return True
    return False


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the never-awaited connect of a MissingGreenlet
@pytest.mark.parametrize("name", sorted(CASES))
def test_flagged_exactly_when_sqlalchemy_fails(name):
    expected_code, code = CASES[name]
    code = textwrap.dedent(code) + "\n"
    found = sorted({f.code for f in check_code(code, RULES)})
    fails = really_fails(code)
    assert fails == (expected_code is not None), f"{name}: the case itself is wrong (fails={fails})"
    assert found == ([expected_code] if expected_code else []), name
