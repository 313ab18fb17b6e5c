from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import httpx

from . import probe_app


@asynccontextmanager
async def probe(database_url: str, monitored: bool = True, raise_app_exceptions: bool = False,
                http_middleware: bool = False, **options):
    from sqlaguard.runtime import install

    # Loop stalls (SQR501) have their own tests; here a stall from a loaded test machine would
    # only add noise to checks that are not about it.
    if "select" not in options:
        options.setdefault("ignore", ["SQR501"])
    app, engine = probe_app.build(database_url, http_middleware=http_middleware)
    async with app.router.lifespan_context(app):
        monitor = install(app, engine, **options) if monitored else None
        # A server starts each request in a fresh loop callback; the stall watcher times callbacks
        # that start after install, so let this one end before the test's first request.
        await asyncio.sleep(0)
        try:
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
            async with httpx.AsyncClient(transport=transport, base_url="http://probe.test") as client:
                yield client, monitor, app
        finally:
            if monitor is not None:
                monitor.uninstall()


def located(monitor, code: str) -> list[tuple[str, int]]:
    """(file name, line) of each finding with this code."""
    out = []
    for f in monitor.findings:
        if f.code == code:
            path, _, line = f.location.rpartition(":")
            out.append((path.rsplit("/", 1)[-1], int(line)))
    return out


PROBE = "probe_app.py"
