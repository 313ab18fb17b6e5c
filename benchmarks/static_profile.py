"""Run the sqlaguard CLI in this process under cProfile and print the top functions.

Usage: python benchmarks/static_profile.py [--top 30] [--out FILE.prof] -- check . --no-cache --jobs 1

The CLI is loaded through its console-script entry point, so this profiles exactly what
`sqlaguard ...` runs. Work done in worker processes is not seen by cProfile: profile with
--jobs 1 to see the analysis itself.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.metadata
import io
import pstats
import sys


def load_cli():
    for ep in importlib.metadata.entry_points(group="console_scripts"):
        if ep.name == "sqlaguard":
            return ep.load()
    raise SystemExit("no 'sqlaguard' console script installed (pip install -e .)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--out", help="also save the raw profile here (for snakeviz/pstats)")
    ap.add_argument("cli_args", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cli_args = args.cli_args[1:] if args.cli_args[:1] == ["--"] else args.cli_args
    cli = load_cli()
    sys.argv = ["sqlaguard", *cli_args]
    profiler = cProfile.Profile()
    code = 0
    profiler.enable()
    try:
        ret = cli()
        code = ret if isinstance(ret, int) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        profiler.disable()
    if args.out:
        profiler.dump_stats(args.out)
    buf = io.StringIO()
    stats = pstats.Stats(profiler, stream=buf)
    stats.sort_stats("cumulative").print_stats(args.top)
    # The CLI's own findings went to stdout above; the profile goes to stderr to keep apart.
    print(f"\n=== sqlaguard {' '.join(cli_args)} exited {code}; "
          f"top {args.top} by cumulative time ===", file=sys.stderr)
    print(buf.getvalue(), file=sys.stderr)
    return 0 if code in (0, 1) else code


if __name__ == "__main__":
    sys.exit(main())
