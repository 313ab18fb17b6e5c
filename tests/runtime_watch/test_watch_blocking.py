"""BlockingCallDetector with real calls, real threads and a real event loop."""
from __future__ import annotations

import asyncio
import http.server
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import requests
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sqlaguard.runtime import blocking
from sqlaguard.runtime.blocking import BlockingCallDetector, elide_sql, mask_url
from watch_helpers import PG_URL, Recorder, innermost_in, line_of, pg_target

HERE = __file__


def detect(body):
    """Run ``body()`` (a coroutine function) on a loop watched by a detector."""
    rec = Recorder()

    async def main():
        detector = BlockingCallDetector(threading.get_ident(), rec)
        detector.start()
        try:
            return await body()
        finally:
            detector.stop()

    result = asyncio.run(main())
    return rec, result


def calls(rec):
    """(kind, detail, (line, function) of the innermost frame in this file) per report."""
    out = []
    for _, (kind, detail, frames) in rec.calls:
        mine = innermost_in(frames, HERE)
        out.append((kind, detail, mine[1:] if mine else None))
    return out


@pytest.fixture(scope="module")
def http_url():
    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()


# --- time.sleep ---------------------------------------------------------------------

def test_time_sleep_on_the_loop_is_reported_with_its_line():
    async def body():
        time.sleep(0.001)  # <- sleep

    rec, _ = detect(body)
    assert calls(rec) == [("time.sleep", "time.sleep(0.001)", (line_of(HERE, "sleep"), "body"))]


def test_time_sleep_in_worker_threads_is_not_reported():
    async def body():
        await asyncio.to_thread(time.sleep, 0.001)
        await run_in_threadpool(time.sleep, 0.001)
        await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.001)

    rec, _ = detect(body)
    assert rec.calls == []


def test_a_fastapi_sync_route_is_not_reported_an_async_one_is():
    from fastapi import FastAPI
    import httpx

    app = FastAPI()

    @app.get("/sync")
    def sync_route():
        time.sleep(0.001)
        return {"ok": True}

    @app.get("/async")
    async def async_route():
        time.sleep(0.001)  # <- async-route
        return {"ok": True}

    async def body():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/sync")).status_code == 200
            assert (await client.get("/async")).status_code == 200

    rec, _ = detect(body)
    assert calls(rec) == [("time.sleep", "time.sleep(0.001)",
                           (line_of(HERE, "async-route"), "async_route"))]


# --- sqlite3 and SQLAlchemy ---------------------------------------------------------------

def test_raw_sqlite3_connect_and_query_on_the_loop_are_reported():
    async def body():
        conn = sqlite3.connect(":memory:")  # <- sqlite-connect
        conn.execute("SELECT 1 WHERE 'secret' = 'secret'").fetchall()  # <- sqlite-query
        conn.close()

    rec, _ = detect(body)
    assert calls(rec) == [
        ("sqlite3", "sqlite3.connect(':memory:')", (line_of(HERE, "sqlite-connect"), "body")),
        ("sqlite3", "SELECT ? WHERE ? = ?", (line_of(HERE, "sqlite-query"), "body")),
    ]


def test_sync_sqlalchemy_on_the_loop_gives_one_report_per_execution_not_a_cascade():
    engine = create_engine("sqlite://")

    async def body():
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))  # <- sa-conn
        with Session(engine) as session:
            session.execute(text("SELECT :x"), {"x": 2})  # <- sa-session

    try:
        rec, _ = detect(body)
    finally:
        engine.dispose()
    assert calls(rec) == [
        ("sqlalchemy-sync", "SELECT 1", (line_of(HERE, "sa-conn"), "body")),
        ("sqlalchemy-sync", "SELECT ?", (line_of(HERE, "sa-session"), "body")),
    ]


def test_sync_sqlalchemy_in_a_worker_thread_is_not_reported():
    engine = create_engine("sqlite://")

    def query():
        with engine.connect() as conn:
            return conn.execute(text("SELECT 41 + 1")).scalar()

    async def body():
        return await asyncio.to_thread(query)

    try:
        rec, result = detect(body)
    finally:
        engine.dispose()
    assert result == 42
    assert rec.calls == []


def test_aiosqlite_is_not_reported(tmp_path):
    import aiosqlite

    async def body():
        async with aiosqlite.connect(tmp_path / "direct.db") as direct:
            await (await direct.execute("SELECT 1")).fetchall()
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (x INTEGER)"))
                await conn.execute(text("INSERT INTO t VALUES (1)"))
                return (await conn.execute(text("SELECT count(*) FROM t"))).scalar()
        finally:
            await engine.dispose()

    rec, result = detect(body)
    assert result == 1
    assert rec.calls == []


# --- PostgreSQL: asyncpg's non-blocking socket vs psycopg2 ---------------------------------

def test_asyncpg_is_not_reported_as_a_socket_connect(require_pg):
    import asyncpg

    host, port, user, db = pg_target()

    async def body():
        direct = await asyncpg.connect(host=host, port=port, user=user, database=db)
        try:
            plain = await direct.fetchval("SELECT 1")
        finally:
            await direct.close()
        engine = create_async_engine(PG_URL)
        try:
            async with engine.connect() as conn:
                return plain, (await conn.execute(text("SELECT 1"))).scalar()
        finally:
            await engine.dispose()

    rec, result = detect(body)
    assert result == (1, 1)
    assert rec.calls == []


def test_psycopg2_connect_on_the_loop_is_reported_in_a_thread_not(require_pg):
    import psycopg2

    host, port, user, db = pg_target()

    def connect_and_query():
        conn = psycopg2.connect(host=host, port=port, user=user, dbname=db)  # <- psycopg2
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone()[0]
        finally:
            conn.close()

    async def body():
        on_loop = connect_and_query()
        in_thread = await asyncio.to_thread(connect_and_query)
        return on_loop, in_thread

    rec, result = detect(body)
    assert result == (1, 1)
    assert [(k, where) for k, _, where in calls(rec)] == [
        ("psycopg2", (line_of(HERE, "psycopg2"), "connect_and_query"))]
    assert f"host={host!r}" in rec.calls[0][1][1]


def test_sync_sqlalchemy_psycopg2_engine_on_the_loop_is_one_report(require_pg):
    host, port, user, db = pg_target()
    engine = create_engine(f"postgresql+psycopg2://{user}@{host}:{port}/{db}")

    async def body():
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar()  # <- sa-pg

    try:
        rec, _ = detect(body)
    finally:
        engine.dispose()
    assert calls(rec) == [("sqlalchemy-sync", "SELECT 1", (line_of(HERE, "sa-pg"), "body"))]


# --- requests and sockets -------------------------------------------------------------------

def test_requests_on_the_loop_is_one_report_in_a_thread_none(http_url):
    async def body():
        on_loop = requests.get(http_url, timeout=5)  # <- requests
        in_thread = await asyncio.to_thread(requests.get, http_url, timeout=5)
        return on_loop.text, in_thread.text

    rec, result = detect(body)
    assert result == ("ok", "ok")
    assert calls(rec) == [("requests", f"GET {http_url}", (line_of(HERE, "requests"), "body"))]


def test_blocking_socket_connect_is_reported_asyncio_connect_is_not(http_url):
    port = int(http_url.rsplit(":", 1)[1].strip("/"))

    async def body():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)  # <- socket
        sock.close()

    rec, _ = detect(body)
    assert calls(rec) == [("socket", f"socket.connect(('127.0.0.1', {port}))",
                           (line_of(HERE, "socket"), "body"))]


# --- lifecycle -------------------------------------------------------------------------------

def test_stop_undoes_patches_and_listener_and_leaves_the_hook_inert():
    import psycopg2

    originals = (sqlite3.connect, psycopg2.connect, requests.Session.send, time.sleep)
    rec = Recorder()

    async def main():
        detector = BlockingCallDetector(threading.get_ident(), rec)
        detector.start()
        assert sqlite3.connect is not originals[0]
        assert requests.Session.send is not originals[2]
        assert event.contains(Engine, "before_cursor_execute", blocking._before_cursor_execute)
        detector.stop()
        time.sleep(0.001)
        sqlite3.connect(":memory:").close()

    asyncio.run(main())
    assert (sqlite3.connect, psycopg2.connect, requests.Session.send, time.sleep) == originals
    assert "send" not in vars(requests.Session) or requests.Session.send is originals[2]
    assert not event.contains(Engine, "before_cursor_execute", blocking._before_cursor_execute)
    assert rec.calls == []


def test_two_detectors_on_one_loop_both_report_and_stop_independently():
    first, second = Recorder(), Recorder()

    async def main():
        a = BlockingCallDetector(threading.get_ident(), first)
        b = BlockingCallDetector(threading.get_ident(), second)
        a.start()
        b.start()
        time.sleep(0.001)
        a.stop()
        time.sleep(0.002)
        b.stop()

    asyncio.run(main())
    assert [c[1][1] for c in first.calls] == ["time.sleep(0.001)"]
    assert [c[1][1] for c in second.calls] == ["time.sleep(0.001)", "time.sleep(0.002)"]


def test_a_library_imported_after_start_is_patched(http_url, tmp_path):
    """requests imported lazily inside a route, after the detector started."""
    script = tmp_path / "late_import.py"
    script.write_text(textwrap.dedent(f"""
        import asyncio, sys, threading
        from sqlaguard.runtime.blocking import BlockingCallDetector
        assert "requests" not in sys.modules
        seen = []
        async def main():
            d = BlockingCallDetector(threading.get_ident(), lambda *a: seen.append(a[:2]))
            d.start()
            import requests
            requests.get({http_url!r}, timeout=5)
            d.stop()
        asyncio.run(main())
        print(seen)
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str([("requests", f"GET {http_url}")])


# --- pure helpers ---------------------------------------------------------------------------

@pytest.mark.parametrize("url, masked", [
    ("postgresql://bob:s3cret@db:5432/app", "postgresql://bob:***@db:5432/app"),
    ("host=db user=bob password=s3cret dbname=app", "host=db user=bob password=*** dbname=app"),
    ("http://example.test/path", "http://example.test/path"),
])
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_elide_sql_removes_literal_values_but_keeps_names():
    assert elide_sql("SELECT t1.x FROM t1 WHERE name = 'o''brien' AND n > -2.5 LIMIT 10") == \
        "SELECT t1.x FROM t1 WHERE name = ? AND n > ? LIMIT ?"
