import pytest

from .bookshop import load_bookshop
from .databases import create_pg_database, drop_pg_database


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "bookshop.db"
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def bookshop(database_url, tmp_path):
    """A freshly imported reference app bound to the test database (module `bookshop.main`)."""
    return load_bookshop(database_url, legacy_db=str(tmp_path / "legacy.db"))
