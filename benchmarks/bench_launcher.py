"""The app under benchmark, with the configuration chosen by environment variables.

    BENCH_APP  = refapp (fixtures/refapp, the default when present) | minimal (bench_app.py)
    BENCH_MODE = none | sqlaguard | asyncio-debug | blockbuster

asyncio debug mode itself is switched on by PYTHONASYNCIODEBUG=1 in the server's
environment (runtime_bench.py sets it); here it only changes nothing. The monitor is
wired here, not in the app, so the app's code is identical in every configuration.
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
elif MODE not in ("none", "asyncio-debug"):
    raise SystemExit(f"unknown BENCH_MODE {MODE!r}")
