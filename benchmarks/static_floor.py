"""The floor: parse every file and do nothing else.

Run as its own process (python benchmarks/static_floor.py ...) so that its wall time
includes interpreter start-up and the parser import, exactly like the tools it is compared
with. Files are read inside the workers, as a real tool has to read them too.
"""

from __future__ import annotations

import argparse
import os
import sys
from multiprocessing import Pool
from pathlib import Path

_parse = None


def _init(parser: str) -> None:
    global _parse
    if parser == "libcst":
        import libcst

        _parse = libcst.parse_module
    elif parser == "ast":
        import ast

        _parse = ast.parse
    elif parser == "import":
        import libcst  # noqa: F401  (start-up cost only)

        _parse = None
    else:
        raise SystemExit(f"unknown parser {parser!r}")


def _parse_one(path: str) -> int:
    data = Path(path).read_bytes()
    if _parse is None:
        return 0
    try:
        _parse(data)
    except Exception:
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--parser", choices=("libcst", "ast", "import"), default="libcst")
    ap.add_argument("--jobs", type=int, default=1, help="0 = os.cpu_count()")
    ap.add_argument("paths", nargs="+", help="files, or directories searched for *.py")
    args = ap.parse_args(argv)
    files: list[str] = []
    for p in args.paths:
        path = Path(p)
        files.extend(sorted(map(str, path.rglob("*.py"))) if path.is_dir() else [str(path)])
    jobs = args.jobs or os.cpu_count() or 1
    if jobs == 1:
        _init(args.parser)
        failures = sum(map(_parse_one, files))
    else:
        # Largest files first, small chunks: keeps both workers busy to the end.
        files.sort(key=lambda f: -os.path.getsize(f))
        with Pool(jobs, initializer=_init, initargs=(args.parser,)) as pool:
            failures = sum(pool.imap_unordered(_parse_one, files, chunksize=4))
    print(f"{len(files)} files parsed with {args.parser}, jobs={jobs}, failures={failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
