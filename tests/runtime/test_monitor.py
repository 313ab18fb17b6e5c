"""The monitor itself: options, logging, export, dedupe, raise_on, fail-open, uninstall."""
import asyncio
import json
import logging
import sys
import threading
import warnings

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from .probe_app import here
from .probe_client import PROBE, probe


def _lazy_twice(database_url, **options):
    async def scenario():
        async with probe(database_url, **options) as (client, monitor, _):
            pid = (await client.post("/parents")).json()["id"]
            for _ in range(2):
                assert (await client.get(f"/lazy/{pid}")).status_code == 500
            return monitor

    return asyncio.run(scenario())


def test_finding_is_logged_once_with_code_route_and_location(database_url, caplog):
    caplog.set_level(logging.WARNING, logger="sqlaguard")
    monitor = _lazy_twice(database_url)
    [finding] = monitor.findings
    assert finding.count == 2
    records = [r for r in caplog.records if r.name == "sqlaguard"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    text = records[0].getMessage()
    assert "SQR401" in text and "GET /lazy/{pid}" in text and f"{PROBE}:{here('lazy')}" in text


def test_jsonl_export(database_url, tmp_path):
    path = tmp_path / "findings.jsonl"
    _lazy_twice(database_url, jsonl_path=str(path))
    [line] = path.read_text().splitlines()
    record = json.loads(line)
    assert record["code"] == "SQR401" and record["route"] == "/lazy/{pid}"
    assert record["location"].endswith(f"{PROBE}:{here('lazy')}")
    assert record["name"] == "lazy-load" and "Parent.children" in record["details"]


def test_ignore_and_select(database_url):
    assert _lazy_twice(database_url, ignore=["SQR401", "SQR501"]).findings == []
    assert _lazy_twice(database_url, select="SQR303").findings == []
    assert [f.code for f in _lazy_twice(database_url, select=["SQR4"]).findings] == ["SQR401"]
    with pytest.raises(ValueError, match="SQR999"):
        _lazy_twice(database_url, select=["SQR999"])


def test_cap_drops_new_findings_beyond_max(database_url):
    async def scenario():
        async with probe(database_url, max_findings=1) as (client, monitor, _):
            pid = (await client.post("/parents")).json()["id"]
            await client.get(f"/lazy/{pid}")
            await client.get("/leak")
            return monitor

    monitor = asyncio.run(scenario())
    assert [f.code for f in monitor.findings] == ["SQR401"] and monitor.store.dropped == 1


def test_raise_on_turns_finding_into_exception(database_url):
    from sqlaguard.runtime import SqlaguardError

    async def scenario():
        async with probe(database_url, raise_app_exceptions=True, raise_on=["SQR401", "SQR303"]) as (client, _m, _):
            pid = (await client.post("/parents")).json()["id"]
            with pytest.raises(SqlaguardError) as lazy:
                await client.get(f"/lazy/{pid}")
            with pytest.raises(SqlaguardError) as leak:
                await client.get("/leak")
            return lazy.value, leak.value

    lazy, leak = asyncio.run(scenario())
    assert lazy.finding.code == "SQR401" and "Parent.children" in str(lazy)
    assert leak.finding.code == "SQR303" and leak.finding.location.endswith(f"{PROBE}:{here('leak')}")


def test_monitor_error_never_changes_the_response(database_url, caplog, monkeypatch):
    caplog.set_level(logging.ERROR, logger="sqlaguard")

    async def scenario(break_it):
        async with probe(database_url) as (client, monitor, _):
            if break_it:
                def broken(*args, **kwargs):
                    raise RuntimeError("monitor bug")

                monkeypatch.setattr(monitor.store, "add", broken)
            pid = (await client.post("/parents")).json()["id"]
            responses = [await client.get(f"/lazy/{pid}"), await client.get(f"/run-sync/{pid}"),
                         await client.get("/leak")]
            return [(r.status_code, r.text) for r in responses]

    assert asyncio.run(scenario(True)) == asyncio.run(scenario(False))
    errors = [r for r in caplog.records if r.name == "sqlaguard" and r.levelno == logging.ERROR]
    assert errors and len({r.getMessage() for r in errors}) == len(errors)  # each failing hook logged once
    assert all("monitor bug" in (r.exc_text or "") or r.exc_info for r in errors)


def test_uninstall_leaves_nothing_behind(database_url):
    threads_before = set(threading.enumerate())
    hook_before = warnings._warn_unawaited_coroutine
    depth_before = sys.get_coroutine_origin_tracking_depth()

    async def scenario():
        async with probe(database_url) as (client, monitor, app):
            pid = (await client.post("/parents")).json()["id"]
            await client.get(f"/lazy/{pid}")
            hooks = monitor._hooks
            listeners = list(hooks._listeners)
            assert listeners and warnings._warn_unawaited_coroutine is not hook_before
            monitor.uninstall()
            assert not any(event.contains(t, n, f) for t, n, f in listeners)
            assert not [m for m in app.user_middleware if "Sqlaguard" in repr(m.cls)]
            assert warnings._warn_unawaited_coroutine is hook_before
            monitor.reset()
            await client.get(f"/lazy/{pid}")  # the app still works, and nothing records it
            assert monitor.findings == []

    asyncio.run(scenario())
    assert sys.get_coroutine_origin_tracking_depth() == depth_before
    # (aiosqlite's own connection threads wind down on their own schedule: only ours matter)
    assert not [t for t in threading.enumerate() if t not in threads_before and t.is_alive() and "sqlaguard" in t.name]
    assert not event.contains(Session, "do_orm_execute", None)


def test_pure_python_cpu_loop_stall_names_the_loop_line(database_url):
    async def scenario():
        async with probe(database_url, select=["SQR501"]) as (client, monitor, _):
            await client.get("/cpu")
            for _ in range(3):
                await asyncio.sleep(0)  # the stall is reported on the loop's next turn
            return monitor

    monitor = asyncio.run(scenario())
    stalls = [f for f in monitor.findings if f.route == "/cpu"]
    assert [(f.code, f.location.rsplit("/", 1)[-1]) for f in stalls] == [("SQR501", f"{PROBE}:{here('cpu_loop')}")]
    assert stalls[0].duration_ms >= 100 and "sum(i * i for i in range(6_000_000))" in stalls[0].details


def test_request_context_survives_base_http_middleware(database_url):
    async def scenario():
        async with probe(database_url, http_middleware=True) as (client, monitor, _):
            pid = (await client.post("/parents")).json()["id"]
            lazy = await client.get(f"/lazy/{pid}")
            leak = await client.get("/leak")
            assert leak.headers["x-probe"] == "1" and lazy.status_code == 500
            return monitor

    monitor = asyncio.run(scenario())
    assert sorted((f.code, f.route, f.location.rsplit("/", 1)[-1]) for f in monitor.findings) == [
        ("SQR303", "/leak", f"{PROBE}:{here('leak')}"),
        ("SQR401", "/lazy/{pid}", f"{PROBE}:{here('lazy')}"),
    ]
