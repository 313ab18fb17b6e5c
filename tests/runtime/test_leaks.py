"""SQR303: a leak in the app's code is reported; a request cut short by its client is not."""
import asyncio

from .probe_app import here
from .probe_client import PROBE, located, probe


def test_unclosed_session_is_a_leak(database_url):
    async def scenario():
        async with probe(database_url) as (client, monitor, _):
            assert (await client.get("/leak")).status_code == 200
            return monitor

    monitor = asyncio.run(scenario())
    assert located(monitor, "SQR303") == [(PROBE, here("leak"))]
    assert monitor.findings[0].route == "/leak"


async def _call_then_cancel(app, path: str, query: bytes) -> None:
    """Drive the app as a server would, then cancel the request as uvicorn does when the client goes away."""
    sent = []

    async def receive():
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "", "headers": [],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
    }
    task = asyncio.create_task(app(scope, receive, send))
    await asyncio.wait_for(app.state.started.wait(), 10)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert sent == []  # cancelled before any response


def test_request_cancelled_by_client_disconnect_is_not_a_leak(database_url):
    async def scenario():
        async with probe(database_url) as (client, monitor, app):
            await _call_then_cancel(app, "/leak-and-wait", b"wait=30")
            cancelled = list(monitor.findings)
            # The same leaky route, left to finish, is reported: the silence above is the disconnect rule.
            assert (await client.get("/leak-and-wait", params={"wait": 0})).status_code == 200
            return cancelled, monitor

    cancelled, monitor = asyncio.run(scenario())
    assert cancelled == []
    assert located(monitor, "SQR303") == [(PROBE, here("leak_and_wait"))]
