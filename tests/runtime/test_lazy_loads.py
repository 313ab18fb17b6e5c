"""SQR401 / SQR402 details: what counts as an implicit load, and what the finding says."""
import asyncio
import os

import sqlaguard.runtime

import pytest
from sqlalchemy.exc import MissingGreenlet, StatementError

from .probe_app import here
from .probe_client import PROBE, located, probe


def _root(exc: BaseException) -> BaseException:
    return getattr(exc, "orig", None) or exc.__cause__ or exc


def test_missing_greenlet_is_reported_and_still_raised_unchanged(database_url):
    async def call(monitored):
        async with probe(database_url, monitored=monitored, raise_app_exceptions=True) as (client, monitor, _):
            pid = (await client.post("/parents")).json()["id"]
            with pytest.raises(Exception) as info:
                await client.get(f"/lazy/{pid}")
            return info.value, (monitor.findings if monitor else None)

    plain, _ = asyncio.run(call(False))
    watched, findings = asyncio.run(call(True))
    # The same exception, same text (bar the bound id, which differs between the two runs).
    assert type(watched) is type(plain)
    assert str(watched).split("[SQL:")[0] == str(plain).split("[SQL:")[0]
    assert isinstance(watched, (MissingGreenlet, StatementError))
    assert isinstance(_root(watched), MissingGreenlet) or isinstance(watched, MissingGreenlet)

    [finding] = findings
    assert (finding.code, finding.route, finding.method) == ("SQR401", "/lazy/{pid}", "GET")
    assert finding.location.endswith(f"{PROBE}:{here('lazy')}")
    assert "Parent.children" in finding.message and "MissingGreenlet" in finding.message
    assert "selectinload(Parent.children)" in finding.message and "awaitable_attrs.children" in finding.message
    assert finding.details.startswith("Parent.children: SELECT")
    package = os.path.dirname(sqlaguard.runtime.__file__)
    assert finding.stack and all("site-packages" not in f[0] and not f[0].startswith(package) for f in finding.stack)


def test_load_that_succeeds_in_run_sync_is_reported(database_url):
    async def scenario():
        async with probe(database_url) as (client, monitor, _):
            pid = (await client.post("/parents")).json()["id"]
            response = await client.get(f"/run-sync/{pid}")
            assert response.json() == 2
            return monitor

    monitor = asyncio.run(scenario())
    assert located(monitor, "SQR401") == [(PROBE, here("run_sync"))]
    assert "MissingGreenlet" not in monitor.findings[0].message
    assert [f.code for f in monitor.findings] == ["SQR401"]


def test_expired_attribute_refresh_is_reported(database_url):
    async def scenario():
        async with probe(database_url) as (client, monitor, _):
            pid = (await client.post("/parents")).json()["id"]
            assert (await client.get(f"/expired/{pid}")).status_code == 500
            return monitor

    monitor = asyncio.run(scenario())
    assert located(monitor, "SQR401") == [(PROBE, here("expired"))]
    assert "Parent.name" in monitor.findings[0].message


def test_explicit_loads_and_eager_loading_stay_silent(database_url):
    async def scenario():
        async with probe(database_url) as (client, monitor, _):
            pid = (await client.post("/parents", params={"children": 3})).json()["id"]
            response = await client.get(f"/explicit/{pid}")
            assert response.status_code == 200 and response.json()["n"] == 3
            return monitor

    assert asyncio.run(scenario()).findings == []


@pytest.mark.parametrize("threshold, parents", [(3, 3), (4, 3)])
def test_n_plus_one_counts_one_line_against_the_threshold(database_url, threshold, parents):
    async def scenario():
        async with probe(database_url, n_plus_one_threshold=threshold) as (client, monitor, _):
            await client.get("/run-sync-many")  # earlier rows from other tests add loads; reset below
            monitor.reset()
            existing = (await client.get("/run-sync-many")).status_code
            assert existing == 200
            return monitor

    # the table is shared by the session's tests: count the rows the route really walked
    monitor = asyncio.run(scenario())
    loads = monitor.findings[0].count if monitor.findings else 0
    n402 = located(monitor, "SQR402")
    assert located(monitor, "SQR401") == [(PROBE, here("n_plus_one"))]
    assert loads >= 1
    assert n402 == ([(PROBE, here("n_plus_one"))] if loads >= threshold else [])
