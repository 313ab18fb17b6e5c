"""Text helpers of the findings store: credentials never printed, SQL literals elided."""
from sqlaguard.runtime.findings import elide_sql, mask_url


def test_mask_url_hides_passwords_only():
    text = "psycopg2.connect('postgresql://app:s3cr%40t@db:5432/shop') and sqlite:///x.db"
    masked = mask_url(text)
    assert "s3cr" not in masked
    assert "postgresql://app:***@db:5432/shop" in masked and "sqlite:///x.db" in masked
    assert mask_url("postgresql+asyncpg://postgres@127.0.0.1/test") == "postgresql+asyncpg://postgres@127.0.0.1/test"


def test_elide_sql_replaces_literals_not_identifiers():
    sql = "SELECT books_1.id FROM books AS books_1 WHERE books_1.title = 'Dune' AND books_1.price_cents > 1200 LIMIT $1"
    assert elide_sql(sql) == ("SELECT books_1.id FROM books AS books_1 WHERE books_1.title = ? "
                              "AND books_1.price_cents > ? LIMIT $1")
