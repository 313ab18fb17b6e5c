"""Each faulty route of the reference app yields exactly the findings its `# expect:` comments name."""
import asyncio
import importlib.util

import pytest

from .bookshop import expectations, expected_key, finding_key, serve, settle

ROUTE_CALLS = {
    # route template -> (method, url, json body, how many times)
    "/faulty/authors/{author_id}/books": ("GET", "/faulty/authors/{author_id}/books", None, 1),
    "/faulty/authors/stats": ("GET", "/faulty/authors/stats", None, 1),
    "/faulty/catalog/size": ("GET", "/faulty/catalog/size", None, 2),
    "/faulty/dashboard": ("GET", "/faulty/dashboard", None, 1),
    "/faulty/authors/export": ("GET", "/faulty/authors/export", None, 1),
    "/faulty/books/{book_id}/price": ("PATCH", "/faulty/books/{book_id}/price", {"price_cents": 5}, 1),
    "/faulty/signup": ("POST", "/faulty/signup", {"email": "x@y.z", "password": "hunter2"}, 1),
    "/faulty/inventory/sync": ("GET", "/faulty/inventory/sync", None, 1),
    "/faulty/legacy/report": ("GET", "/faulty/legacy/report", None, 1),
}
WATCH_MODULES = {"SQR501": "sqlaguard.runtime.loopwatch", "SQR502": "sqlaguard.runtime.blocking"}
N_AUTHORS = 6  # above the default n_plus_one_threshold (5)


def test_every_expect_comment_has_a_driven_route():
    routes = {e.route for e in expectations()}
    assert routes and routes <= set(ROUTE_CALLS), routes - set(ROUTE_CALLS)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


async def seed(client) -> dict[str, int]:
    ids = {}
    for i in range(N_AUTHORS):
        author = (await client.post("/authors", json={"name": f"author {i}"})).json()
        book = (await client.post(f"/authors/{author['id']}/books", json={"title": f"book {i}"})).json()
        ids = {"author_id": author["id"], "book_id": book["id"]}
    return ids


@pytest.mark.parametrize("route", sorted(ROUTE_CALLS))
def test_faulty_route_yields_exactly_its_findings(bookshop, route):
    expected = {expected_key(e) for e in expectations() if e.route == route}
    method, url, body, times = ROUTE_CALLS[route]

    # Loop stalls are only asserted where a route plants one: elsewhere a stall would come from
    # the load of the test machine, not from the route.
    options = {} if any(e[0] == "SQR501" for e in expected) else {"ignore": ["SQR501"]}

    async def scenario():
        async with serve(bookshop, **options) as (client, monitor):
            ids = await seed(client)
            await settle()
            monitor.reset()  # seeding is covered by the clean-route tests; a cold app may stall once here
            for _ in range(times):
                await client.request(method, url.format(**ids), json=body)
            await settle()
            return monitor.findings

    missing = [m for code, m in WATCH_MODULES.items() if any(e[0] == code for e in expected) and not _has(m)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not in this build yet (branch rt-watch)")
    findings = asyncio.run(scenario())
    got = {finding_key(f) for f in findings}
    assert got == expected, "\n".join(f.format(with_stack=True) for f in findings)
