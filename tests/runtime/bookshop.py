"""Loading the reference app (fixtures/refapp/bookshop) against a given database, and reading
the `# expect:` comments its faulty routes carry."""
from __future__ import annotations

import asyncio
import importlib
import os
import re
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx

REFAPP_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "refapp"
PACKAGE = "bookshop"


def load_bookshop(database_url: str, legacy_db: str) -> ModuleType:
    """Import a fresh copy of the app: its engine is built at import from BOOKSHOP_DATABASE_URL,
    exactly as under uvicorn."""
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    if str(REFAPP_DIR) not in sys.path:
        sys.path.insert(0, str(REFAPP_DIR))
    os.environ["BOOKSHOP_DATABASE_URL"] = database_url
    os.environ["BOOKSHOP_LEGACY_DB"] = legacy_db
    try:
        return importlib.import_module(f"{PACKAGE}.main")
    finally:
        os.environ.pop("BOOKSHOP_DATABASE_URL", None)
        os.environ.pop("BOOKSHOP_LEGACY_DB", None)


@asynccontextmanager
async def serve(main: ModuleType, raise_app_exceptions: bool = False, **options):
    """Run the app's lifespan, install the monitor, and give an httpx client on the ASGI transport."""
    from sqlaguard.runtime import install

    app = main.app
    engine = sys.modules[f"{PACKAGE}.database"].engine
    async with app.router.lifespan_context(app):
        monitor = install(app, engine, **options)
        await asyncio.sleep(0)  # see probe_client.probe: requests start in a fresh loop callback
        try:
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
            async with httpx.AsyncClient(transport=transport, base_url="http://bookshop.test") as client:
                yield client, monitor
        finally:
            monitor.uninstall()
            await _close_catalog_session()


async def settle() -> None:
    """Let the loop go round: a stall is reported on the loop's next turn, after the request."""
    for _ in range(3):
        await asyncio.sleep(0)


async def _close_catalog_session() -> None:
    # The faulty module-level session (SQR301) would otherwise hold its connection past the loop.
    faulty = sys.modules.get(f"{PACKAGE}.faulty")
    if faulty is not None:
        await faulty.catalog_session.close()


@dataclass(frozen=True)
class Expected:
    code: str
    route: str
    path: str
    line: int


_DECORATOR = re.compile(r'@router\.(?:get|post|put|patch|delete)\("(?P<route>[^"]+)"')
_EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>(?:SQR\d{3}\s*)+)$")


def expectations() -> list[Expected]:
    """Every `# expect: CODE ...` comment in the app, under the route decorator above it."""
    out: list[Expected] = []
    for path in sorted((REFAPP_DIR / PACKAGE).glob("*.py")):
        route = None
        for lineno, text in enumerate(path.read_text().splitlines(), start=1):
            decorator = _DECORATOR.search(text)
            if decorator:
                route = decorator.group("route")
            expect = _EXPECT.search(text.rstrip())
            if expect:
                assert route is not None, f"{path}:{lineno}: expect comment outside a route"
                out.extend(Expected(code, route, str(path), lineno) for code in expect.group("codes").split())
    return out


def finding_key(finding) -> tuple[str, str | None, str, int]:
    path, _, line = finding.location.rpartition(":")
    return finding.code, finding.route, str(Path(path).resolve()), int(line)


def expected_key(e: Expected) -> tuple[str, str | None, str, int]:
    return e.code, e.route, e.path, e.line
