"""The app under benchmark, with the configuration chosen by environment variables.

    BENCH_APP  = refapp (fixtures/refapp, the default when present) | minimal (bench_app.py)
    BENCH_MODE = none | sqlaguard | asyncio-debug | blockbuster
                 | watch-only (only sqlaguard's LoopWatcher + BlockingCallDetector, to
                   attribute the monitor's cost; not one of the four reported configurations)

asyncio debug mode: runtime_bench.py sets PYTHONASYNCIODEBUG=1, but uvicorn runs its
loop with debug explicitly off, so the mode is switched on here, on the running loop at
the first ASGI call (lifespan startup), which also turns on coroutine origin tracking as
asyncio's debug mode does. The monitor is wired here, not in the app, so the app's code
is identical in every configuration.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFAPP = ROOT / "fixtures" / "refapp"
MODE = os.environ.get("BENCH_MODE", "none")
APP = os.environ.get("BENCH_APP") or ("refapp" if (REFAPP / "bookshop" / "main.py").exists() else "minimal")

if APP == "refapp":
    sys.path.insert(0, str(REFAPP))
    from bookshop.database import engine
    from bookshop.main import app
elif APP == "minimal":
    from benchmarks.bench_app import app, engine
else:
    raise SystemExit(f"BENCH_APP must be refapp or minimal, not {APP!r}")

if MODE == "sqlaguard":
    from sqlaguard.runtime import install

    monitor = install(app, engine)
elif MODE == "blockbuster":
    from blockbuster import BlockBuster

    blockbuster = BlockBuster()
    blockbuster.activate()
elif MODE == "watch-only":
    import asyncio
    import threading

    from sqlaguard.runtime.blocking import BlockingCallDetector
    from sqlaguard.runtime.loopwatch import LoopWatcher

    inner = app

    async def app(scope, receive, send):
        # Started on the first ASGI call, on the loop thread, like the monitor does.
        global _watchers
        if _watchers is None:
            _watchers = (LoopWatcher(asyncio.get_running_loop(), 100, lambda *a: print("SQR501", a[0])),
                         BlockingCallDetector(threading.get_ident(), lambda *a: print("SQR502", a[:2])))
            for w in _watchers:
                w.start()
        await inner(scope, receive, send)

    _watchers = None
elif MODE == "asyncio-debug":
    import asyncio

    debug_inner = app

    async def app(scope, receive, send):
        loop = asyncio.get_running_loop()
        if not loop.get_debug():
            loop.set_debug(True)
            print(f"bench: asyncio debug mode on (origin tracking depth "
                  f"{sys.get_coroutine_origin_tracking_depth()})", flush=True)
        await debug_inner(scope, receive, send)
elif MODE != "none":
    raise SystemExit(f"unknown BENCH_MODE {MODE!r}")
