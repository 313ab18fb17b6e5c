import os

import pytest

from watch_helpers import pg_available


@pytest.fixture
def require_pg():
    """Skip without a PostgreSQL server, unless SQLAGUARD_REQUIRE_PG=1 makes that a failure."""
    if pg_available():
        return
    message = ("no PostgreSQL at SQLAGUARD_PG_URL (default postgresql+asyncpg://postgres@"
               "127.0.0.1:5432/test): start one or set SQLAGUARD_PG_URL to enable these tests")
    if os.environ.get("SQLAGUARD_REQUIRE_PG") == "1":
        pytest.fail(message + " (SQLAGUARD_REQUIRE_PG=1)")
    pytest.skip(message)
