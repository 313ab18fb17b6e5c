"""Sync SQLAlchemy: an implicit load in a def route (threadpool) is reported as SQR401 and is not a
blocking call; the same sync session in an async route blocks the loop (SQR502)."""
import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .probe_app import Base, Child, Parent


def build(path):
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    Session = sessionmaker(engine)
    with Session() as session:
        parent = Parent(name="p", children=[Child(), Child()])
        session.add(parent)
        session.commit()
        pid = parent.id
    app = FastAPI()

    @app.get("/sync-route/{pid}")
    def sync_route(pid: int):
        with Session() as session:
            parent = session.get(Parent, pid)
            return len(parent.children)  # here: sync_route_lazy

    @app.get("/async-route/{pid}")
    async def async_route(pid: int):
        with Session() as session:  # noqa: SQA501 (the blocking call under test)
            parent = session.get(Parent, pid)  # here: sync_in_async
            return parent.name

    return app, engine, pid


def test_sync_route_lazy_load_is_sqr401_not_blocking(tmp_path):
    from sqlaguard.runtime import install

    app, engine, pid = build(tmp_path / "sync.db")
    monitor = install(app, engine, ignore=["SQR501"])

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sync.test") as client:
            assert (await client.get(f"/sync-route/{pid}")).json() == 2
            sync_findings = list(monitor.findings)
            monitor.reset()
            assert (await client.get(f"/async-route/{pid}")).json() == "p"
            return sync_findings, list(monitor.findings)

    try:
        in_thread, on_loop = asyncio.run(scenario())
    finally:
        monitor.uninstall()
        engine.dispose()
    assert [(f.code, f.route, f.location.rsplit(":", 1)[1]) for f in in_thread] == [
        ("SQR401", "/sync-route/{pid}", str(here_line("sync_route_lazy")))]
    assert "MissingGreenlet" not in in_thread[0].message
    assert {(f.code, f.location.rsplit(":", 1)[1]) for f in on_loop} == {("SQR502", str(here_line("sync_in_async")))}


def here_line(name: str) -> int:
    """Like probe_app.here, for the marks in this file."""
    from pathlib import Path

    for lineno, line in enumerate(Path(__file__).read_text().splitlines(), start=1):
        if line.rstrip().endswith(f"# here: {name}"):
            return lineno
    raise LookupError(name)
