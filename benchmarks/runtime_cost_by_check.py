"""Where the runtime monitor's CPU goes: server CPU per request with each check group alone.

    .venv/bin/python benchmarks/runtime_cost_by_check.py [--reps 4]

In one process, no network: the reference app (fixtures/refapp) driven through httpx's
ASGI transport by 10 concurrent clients on its correct read routes; the monitor is
installed with `select=` one check group at a time (and with everything, and not at
all), interleaved over --reps repetitions. Reports the minimum CPU time per request of
each configuration (the minimum, because on a shared machine interference only ever
adds). The client's own CPU is included in every configuration alike, so ratios
understate the monitor's share of the server's work; runtime_bench.py measures that.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUPS = {
    "no monitor": None,
    "all checks": [],
    "SQR501+SQR502": ["SQR501", "SQR502"],
    "SQR401+SQR402": ["SQR401", "SQR402"],
    "SQR301": ["SQR301"],
    "SQR303": ["SQR303"],
    "SQR202": ["SQR202"],
    "LoopWatcher+BlockingCallDetector only": "watchers",
    "coroutine origin tracking only (depth 8)": "origin",
}


async def measure(app, engine, reps: int) -> dict[str, float]:
    import httpx
    from sqlaguard.runtime import install
    from sqlaguard.runtime.blocking import BlockingCallDetector
    from sqlaguard.runtime.loopwatch import LoopWatcher

    best = {name: float("inf") for name in GROUPS}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for a in range(20):
                author = (await client.post("/authors", json={"name": f"A{a}"})).json()["id"]
                for b in range(5):
                    await client.post(f"/authors/{author}/books", json={"title": f"B{b}", "price_cents": b})

            async def worker(k: int, n: int) -> None:
                for i in range(n):
                    assert (await client.get(f"/books/{(i * 7 + k) % 100 + 1}")).status_code == 200
                    assert (await client.get(f"/authors/{(i + k) % 20 + 1}")).status_code == 200

            for _ in range(reps):
                for name, select in GROUPS.items():
                    monitor, watchers = None, []
                    if select == "origin":  # what the monitor turns on for SQR202/SQR301
                        sys.set_coroutine_origin_tracking_depth(8)
                    elif select == "watchers":
                        watchers = [LoopWatcher(asyncio.get_running_loop(), 100, print),
                                    BlockingCallDetector(threading.get_ident(), print)]
                        for w in watchers:
                            w.start()
                    elif select is not None:
                        app.middleware_stack = None  # rebuilt with the monitor's middleware
                        monitor = install(app, engine, select=select) if select else install(app, engine)
                    await asyncio.gather(*(worker(k, 3) for k in range(5)))  # warm
                    started = time.process_time()
                    await asyncio.gather(*(worker(k, 20) for k in range(10)))
                    best[name] = min(best[name], (time.process_time() - started) / 400 * 1e3)
                    if monitor is not None:
                        assert not monitor.findings, monitor.findings  # correct routes only
                        monitor.uninstall()
                        app.middleware_stack = None
                    for w in watchers:
                        w.stop()
                    sys.set_coroutine_origin_tracking_depth(0)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BOOKSHOP_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp}/cost.db"
        sys.path.insert(0, str(ROOT / "fixtures" / "refapp"))
        from bookshop.database import engine
        from bookshop.main import app

        best = asyncio.run(measure(app, engine, args.reps))
    base = best["no monitor"]
    print("| configuration | CPU ms/request (min) | vs no monitor |\n|---|---|---|")
    for name, value in best.items():
        print(f"| {name} | {value:.3f} | {value / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
