"""Benchmark sqlaguard's static analyzer against peers on a corpus of real Python.

    .venv/bin/python benchmarks/static_bench.py            # full run, writes docs/static_bench.md
    .venv/bin/python benchmarks/static_bench.py --quick    # small corpus, fewer runs, prints only
    .venv/bin/python benchmarks/static_bench.py --profile  # sqlaguard cold under cProfile, top 30

Every number is the wall time of a real subprocess (interpreter start-up included), median of
the timed runs after the warm-up runs. Needs the bench extra: pip install -e ".[dev,bench]".
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import static_corpus  # noqa: E402
import static_env  # noqa: E402
import static_report  # noqa: E402
from static_run import Case, Result, RunError, child_env, kill_group, run_case  # noqa: E402

REPO = static_corpus.REPO_ROOT
BIN = Path(sys.executable).parent
PY = sys.executable
HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = Path(tempfile.gettempdir()) / "sqlaguard-bench-corpus"
DEFAULT_OUTPUT = REPO / "docs" / "static_bench.md"

# Slow peers get fewer runs so that the full run stays bounded (flake8-async alone takes
# minutes per run over the full corpus); the report says how many runs each median is of.
FULL_RUNS = {"flake8-async": (1, 0)}  # key -> (runs, warm-ups)
QUICK_DEFAULT = (3, 1)
QUICK_RUNS = {"flake8-async": (1, 0)}


def tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: pip install -e '.[dev,bench]'")
    return found


def sqlaguard_available() -> tuple[bool, str]:
    """The CLI is written in main; until it lands the entry point is a stub."""
    exe = BIN / "sqlaguard"
    if not exe.exists():
        return False, "sqlaguard is not installed in this environment"
    proc = subprocess.run([str(exe), "check", "--help"], capture_output=True, text=True)
    if proc.returncode != 0 or "--no-cache" not in proc.stdout:
        return False, "the sqlaguard CLI in this build has no `check --no-cache` yet"
    return True, ""


class Workspace:
    """The corpus on disk plus the state the cases share (cache dirs, the changed file)."""

    def __init__(self, corpus: static_corpus.Corpus, changed: Path):
        self.corpus = corpus
        self.root = corpus.root
        self.changed = changed
        self.changed_path = corpus.root / changed
        self.original = self.changed_path.read_bytes()
        self.original_stat = self.changed_path.stat()
        self.ruff_cache = Path(tempfile.mkdtemp(prefix="sqlaguard-bench-ruff-cache-"))

    def clear_sqlaguard_cache(self) -> None:
        shutil.rmtree(self.root / ".sqlaguard_cache", ignore_errors=True)

    def edit(self, i: int) -> None:
        # New content every time, so that neither an mtime nor a content-hash cache can
        # answer from a previous run.
        stamp = f"\n# sqlaguard-bench edit {i} {time.time_ns()}\n".encode()
        self.changed_path.write_bytes(self.original + stamp)

    def restore(self) -> None:
        self.changed_path.write_bytes(self.original)
        os.utime(self.changed_path, ns=(self.original_stat.st_atime_ns,
                                        self.original_stat.st_mtime_ns))


def build_cases(ws: Workspace, quick: bool, with_sqlaguard: bool,
                timeout: float = 1800) -> list[Case]:
    root, lines = ws.root, ws.corpus.lines
    rel = str(ws.changed)
    file_lines = ws.corpus.file_lines(ws.changed)
    jobs = static_env.usable_cores()
    sqg, ruff, flake8, fixit = (tool("sqlaguard") if with_sqlaguard else "sqlaguard",
                                tool("ruff"), tool("flake8"), tool("fixit"))
    floor = str(HERE / "static_floor.py")

    def quiet(cmd: list[str]) -> None:
        proc = subprocess.Popen(cmd, cwd=root, env=child_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise RunError(f"untimed set-up run timed out after {timeout:.0f} s") from None

    def rewarm(cmd: list[str]):
        def after(_i: int) -> None:
            ws.restore()
            quiet(cmd)  # the restored file is new to the cache again: re-warm, untimed
        return after

    def populate(cmd: list[str], clear: bool = True):
        def setup() -> None:
            if clear:
                ws.clear_sqlaguard_cache()
            quiet(cmd)
        return setup

    warm_cmd = [sqg, "check", "."]
    alone_cmd = [sqg, "check", rel]
    corpus: list[Case] = []
    single: list[Case] = []
    if with_sqlaguard:
        corpus += [
            Case("sqlaguard-cold", "corpus", "sqlaguard cold (`--no-cache`, default jobs)",
                 [sqg, "check", ".", "--no-cache"], root, lines),
            # The untimed run that populates the cache is also these cases' warm-up.
            Case("sqlaguard-warm", "corpus", "sqlaguard warm (cache populated, nothing changed)",
                 warm_cmd, root, lines, setup=populate(warm_cmd), warmups=0,
                 note="the cache is cleared, then populated by one untimed run (the warm-up)"),
            Case("sqlaguard-changed", "corpus", "sqlaguard warm, one file changed",
                 warm_cmd, root, lines, setup=populate(warm_cmd, clear=False), warmups=0,
                 before_each=ws.edit, after_each=rewarm(warm_cmd), teardown=ws.restore,
                 note=f"one untimed run first makes sure the cache is warm (the warm-up); "
                      f"before each timed run a comment line is appended to `{rel}` "
                      f"({file_lines} lines); between runs the file is restored and the cache "
                      "re-warmed, untimed"),
        ]
        single += [
            Case("sqlaguard-single", "single", "sqlaguard single-file start-up (`--no-cache`)",
                 [sqg, "check", rel, "--no-cache"], root, file_lines),
            Case("sqlaguard-precommit", "single",
                 "sqlaguard the changed file alone, warm cache (pre-commit style)",
                 alone_cmd, root, file_lines, setup=populate(alone_cmd, clear=False),
                 warmups=0, before_each=ws.edit, after_each=rewarm(alone_cmd),
                 teardown=ws.restore,
                 note="after the corpus-wide runs above the cache is warm; one untimed run of "
                      "the file alone first (the warm-up), then the file is edited before each "
                      "timed run as above"),
        ]
    ruff_env = {"RUFF_CACHE_DIR": str(ws.ruff_cache)}
    ruff_args = ["check", "--isolated", "--select", "ASYNC,FAST", "--output-format", "concise"]
    fixit_args = ["--rules", "fixit.rules", "lint"]
    corpus += [
        Case("ruff", "corpus", "ruff `--select ASYNC,FAST --no-cache`",
             [ruff, *ruff_args, "--no-cache", "."], root, lines,
             note="`--isolated`: no config file is read"),
        Case("ruff-cached", "corpus", "ruff cached (reference only)",
             [ruff, *ruff_args, "."], root, lines, env=ruff_env,
             setup=lambda: quiet([ruff, *ruff_args, "."]),
             note="RUFF_CACHE_DIR is a fresh temp dir, populated by one untimed run"),
        Case("flake8-async", "corpus", f"flake8 + flake8-async (`--select ASYNC -j {jobs}`)",
             [flake8, "--isolated", "--select", "ASYNC", "-j", str(jobs), "."], root, lines,
             note="flake8 still runs every installed plugin (pyflakes, pycodestyle, mccabe, "
                  "flake8-async); --select filters what is reported"),
        Case("fixit", "corpus", "fixit lint, built-in rules (`fixit.rules`)",
             [fixit, *fixit_args, "."], root, lines, ok_codes=(0, 1, 2, 3),
             note="the rules of the `fixit.rules` package (fixit's built-in set); trailrunner's "
                  "default process pool (one worker per core); exit code 2 (a rule failed on "
                  "some file) is accepted, the other files were still linted"),
        Case("libcst-1", "corpus", "floor: `libcst.parse_module` only, 1 process",
             [PY, floor, "--parser", "libcst", "--jobs", "1", "."], root, lines,
             ok_codes=(0,), count_findings=False),
        Case(f"libcst-{jobs}", "corpus", f"floor: `libcst.parse_module` only, {jobs} processes",
             [PY, floor, "--parser", "libcst", "--jobs", str(jobs), "."], root, lines,
             ok_codes=(0,), count_findings=False,
             note="multiprocessing.Pool, largest files first"),
        Case("ast-1", "corpus", "reference: `ast.parse` only, 1 process",
             [PY, floor, "--parser", "ast", "--jobs", "1", "."], root, lines,
             ok_codes=(0,), count_findings=False),
    ]
    single += [
        Case("ruff-single", "single", "ruff one file (`--no-cache`)",
             [ruff, *ruff_args, "--no-cache", rel], root, file_lines),
        Case("flake8-single", "single", "flake8 + flake8-async one file",
             [flake8, "--isolated", "--select", "ASYNC", rel], root, file_lines),
        Case("fixit-single", "single", "fixit one file", [fixit, *fixit_args, rel], root,
             file_lines),
        Case("libcst-import", "single", "floor: `python -c 'import libcst'`",
             [PY, "-c", "import libcst"], root, file_lines, ok_codes=(0,),
             count_findings=False),
        Case("libcst-single", "single", "floor: import libcst + parse the one file",
             [PY, floor, "--parser", "libcst", rel], root, file_lines, ok_codes=(0,),
             count_findings=False),
    ]
    return corpus + single


def apply_runs(cases: list[Case], quick: bool, repeats: dict[str, int],
               warmups: dict[str, int]) -> None:
    for c in cases:
        if quick:
            c.repeats, c.warmups = QUICK_RUNS.get(c.key, QUICK_DEFAULT)
        elif c.key in FULL_RUNS:
            c.repeats, c.warmups = FULL_RUNS[c.key]
        c.repeats = repeats.get(c.key, c.repeats)
        c.warmups = warmups.get(c.key, c.warmups)


def compute_targets(by_key: dict[str, Result], jobs: int) -> list[static_report.Target]:
    def med(key: str, cpu: bool = False) -> float | None:
        r = by_key.get(key)
        if r is None:
            return None
        return r.median_cpu if cpu else r.median

    def ratio(a: str, b: str, cpu: bool = False) -> float | None:
        x, y = med(a, cpu), med(b, cpu)
        return x / y if x and y else None

    def target(name, a, b, limit, unit, detail, higher=False):
        get = (lambda cpu: ratio(a, b, cpu)) if b else (lambda cpu: med(a, cpu))
        return static_report.Target(name, get(False), limit, unit, higher, detail, get(True))

    return [
        target("cold scan vs libcst-parse floor at the same number of processes",
               "sqlaguard-cold", f"libcst-{jobs}", 1.5, "x",
               f"sqlaguard cold / floor with {jobs} processes"),
        target("warm re-run speed-up over cold", "sqlaguard-cold", "sqlaguard-warm", 20, "x",
               "sqlaguard cold / sqlaguard warm", higher=True),
        target("warm re-run vs ruff uncached", "sqlaguard-warm", "ruff", 3, "x",
               "sqlaguard warm / ruff --no-cache"),
        target("one changed file, warm cache", "sqlaguard-changed", None, 0.3, "s",
               "whole corpus re-checked with one file edited"),
        target("one changed file, warm cache, file passed alone", "sqlaguard-precommit", None,
               0.3, "s", "`sqlaguard check FILE`, as pre-commit calls it"),
        target("one changed file, no cache", "sqlaguard-single", None, 0.5, "s",
               "`sqlaguard check FILE --no-cache`"),
    ]


def render(args, corpus, ws, results, targets, versions, machine, unavailable, elapsed) -> str:
    by_group = {g: [r for r in results if r.case.group == g] for g in ("corpus", "single")}
    by_key = {r.case.key: r for r in results}
    mode = "QUICK (small corpus, fewer runs: not the reference numbers)" if args.quick else "full"
    if args.packages or args.no_repo:
        mode += "; CUSTOM CORPUS: not the reference corpus"
    src = ", ".join(f"{k} {n:,} files / {l:,} lines" for k, (n, l) in corpus.per_source.items())
    out = [
        "# Static analysis benchmark: sqlaguard vs peers",
        "",
        f"Generated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC} by",
        f"`{shlex.join(['python', 'benchmarks/static_bench.py', *sys.argv[1:]])}` "
        f"(mode: {mode}); the whole run took {elapsed / 60:.1f} min.",
        "",
        "Wall time of each real subprocess, interpreter start-up included; median of the timed",
        "runs after the warm-up runs (the `runs` column says how many of each). `ratio to",
        "sqlaguard` is that row's median divided by sqlaguard's (cold scan for the corpus table,",
        "single-file start-up for the one-file table): above 1 means slower than sqlaguard.",
        "`median CPU` is user+sys time of the whole process tree (workers included): it moves",
        "much less than wall time when other work shares the machine. `load` is the 1-minute",
        f"load average before / after the case, on {static_env.usable_cores()} cores: a load",
        "above the core count means the wall times were taken on a busy machine.",
        "",
    ]
    if unavailable:
        out += [f"**sqlaguard not measured:** {unavailable}.", ""]
    out += [
        f"## Corpus: {len(corpus.files):,} files, {corpus.lines:,} lines",
        "",
        f"Copied to `{corpus.root}` (digest {corpus.digest}) from: {src}. "
        f"Left out as not parseable: {len(corpus.skipped)}.",
        "",
        static_report.results_table(by_group["corpus"], by_key.get("sqlaguard-cold")),
        "",
        f"## One file: `{ws.changed}` ({corpus.file_lines(ws.changed)} lines)",
        "",
        f"The corpus file closest to {static_corpus.CHANGED_FILE_TARGET_LINES} lines, standing "
        "for a typical application module; the same file is the one edited in the changed-file "
        "cases.",
        "",
        static_report.results_table(by_group["single"], by_key.get("sqlaguard-single")),
        "",
        "## Targets",
        "",
        "The targets are about wall time. The CPU-time columns apply the same formula to the",
        "CPU medians: for a single-process tool that is about the wall time it would take on a",
        "quiet machine; for ratios between multi-process runs it compares total work, not",
        "elapsed time.",
        "",
        static_report.targets_table(targets),
        "",
        "## Versions and machine",
        "",
        static_report.kv_table("tool", versions),
        "",
        static_report.kv_table("machine", machine),
        "",
        static_report.kv_table("corpus package", corpus.versions),
        "",
        "## Exactly what was run",
        "",
        static_report.commands_list(results),
        "",
        "## How to run it",
        "",
        "```",
        ".venv/bin/pip install -e '.[dev,bench]'",
        ".venv/bin/python benchmarks/static_bench.py            # full: rewrites this file",
        ".venv/bin/python benchmarks/static_bench.py --quick    # ~40k lines, 3 runs: prints only",
        ".venv/bin/python benchmarks/static_bench.py --profile  # sqlaguard cold under cProfile",
        ".venv/bin/python benchmarks/static_bench.py --list     # case keys for --only/--skip/--repeat",
        "```",
        "",
        "Every case runs 5 times after 1 warm-up, except flake8-async over the corpus (1 run, no",
        "warm-up: minutes per run); `--repeat KEY=N` / `--warmup KEY=N` change that per case.",
        "To keep the whole run bounded, a case stops taking timed runs once it has spent",
        "`--budget` seconds (default 300; setup, warm-ups and untimed re-warm runs count) and has",
        "at least one: the `runs` column then says e.g. `2 of 5`. `--timeout` bounds each single",
        "run (default 1800 s). The worst case is therefore about cases x (budget + one run); how",
        "long this run took is said at the top. The corpus is rebuilt (copied) at every start,",
        "so each run sees the same files; it is never committed.",
        "",
    ]
    return "\n".join(out)


def parse_kv(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        key, _, n = item.partition("=")
        if not n.isdigit():
            raise SystemExit(f"expected KEY=N, got {item!r}")
        out[key] = int(n)
    return out


def run_profile(args, corpus: static_corpus.Corpus) -> int:
    ok, why = sqlaguard_available()
    if not ok:
        print(f"cannot profile: {why}", file=sys.stderr)
        return 2
    prof = Path(tempfile.gettempdir()) / "sqlaguard-bench-cold.prof"
    cmd = [PY, str(HERE / "static_profile.py"), "--top", "30", "--out", str(prof), "--",
           "check", ".", "--no-cache", "--jobs", str(args.profile_jobs)]
    print(f"profiling in {corpus.root}: {shlex.join(cmd)}", file=sys.stderr)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=corpus.root, env=child_env(), stdout=subprocess.DEVNULL)
    print(f"wall time under the profiler: {time.perf_counter() - start:.2f} s; "
          f"raw profile saved to {prof}", file=sys.stderr)
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small corpus (fastapi, starlette, httpx), 3 runs after 1 warm-up")
    ap.add_argument("--corpus-dir", type=Path, default=None,
                    help=f"where to copy the corpus (default {DEFAULT_CORPUS}[-quick])")
    ap.add_argument("--output", type=Path, default=None,
                    help=f"markdown report (default: {DEFAULT_OUTPUT.relative_to(REPO)} for a "
                         "full run; a quick run only prints unless this is given)")
    ap.add_argument("--packages", default="",
                    help="comma-separated installed packages to build the corpus from instead "
                         "of the reference list (for investigating; not the reference corpus)")
    ap.add_argument("--no-repo", action="store_true",
                    help="leave the repository's tests/ and fixtures/ out of the corpus")
    ap.add_argument("--only", default="", help="comma-separated case keys to run")
    ap.add_argument("--skip", default="", help="comma-separated case keys to leave out")
    ap.add_argument("--repeat", action="append", default=[], metavar="KEY=N",
                    help="timed runs for one case, e.g. --repeat flake8-async=3")
    ap.add_argument("--warmup", action="append", default=[], metavar="KEY=N",
                    help="warm-up runs for one case")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per single run")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds per case (setup and warm-ups included) after which no more "
                         "timed runs start, once one is taken (default 300, quick 120; 0 = none)")
    ap.add_argument("--list", action="store_true", help="list the case keys and exit")
    ap.add_argument("--profile", action="store_true",
                    help="only run sqlaguard cold under cProfile on the corpus, print top 30")
    ap.add_argument("--profile-jobs", type=int, default=1,
                    help="--jobs given to sqlaguard under --profile (cProfile sees only this "
                         "process, so 1 shows the analysis itself)")
    args = ap.parse_args(argv)

    started = time.perf_counter()
    dest = args.corpus_dir or Path(f"{DEFAULT_CORPUS}{'-quick' if args.quick else ''}")
    packages = tuple(p for p in args.packages.split(",") if p) or None
    corpus = static_corpus.build(dest, quick=args.quick, include_repo=not args.no_repo,
                                 packages=packages)
    print(f"corpus: {len(corpus.files):,} files, {corpus.lines:,} lines in {dest}",
          file=sys.stderr)
    if args.profile:
        return run_profile(args, corpus)

    available, unavailable = sqlaguard_available()
    ws = Workspace(corpus, static_corpus.pick_changed_file(corpus))
    cases = build_cases(ws, args.quick, with_sqlaguard=available, timeout=args.timeout)
    if args.list:
        print("\n".join(f"{c.key:22} {c.label}" for c in cases))
        return 0
    only = {k for k in args.only.split(",") if k}
    skip = {k for k in args.skip.split(",") if k}
    cases = [c for c in cases if (not only or c.key in only) and c.key not in skip]
    apply_runs(cases, args.quick, parse_kv(args.repeat), parse_kv(args.warmup))
    # sqlaguard first (what the report is for), the slowest peers last: a run stopped early
    # still leaves a partial report with the important rows.
    run_order = sorted(cases, key=lambda c: (not c.key.startswith("sqlaguard"),
                                             c.key in ("fixit", "flake8-async"),
                                             c.key == "flake8-async"))

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    output = args.output or (None if args.quick else DEFAULT_OUTPUT)
    versions, machine = static_env.tool_versions(REPO), static_env.machine()
    done: dict[str, Result] = {}

    def report(final: bool) -> str:
        results = [done[c.key] for c in cases if c.key in done]
        text = render(args, corpus, ws, results, compute_targets(done, static_env.usable_cores()),
                      versions, machine, unavailable, time.perf_counter() - started)
        if not final:
            text = text.replace("\n", f"\n\n**PARTIAL: {len(done)} of {len(cases)} cases done, "
                                      "the run is still going or was stopped.**\n", 1)
        if output:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text)
        return text

    budget = args.budget if args.budget is not None else (120 if args.quick else 300)
    try:
        for c in run_order:
            cold = done.get("sqlaguard-cold")
            if c.key in ("sqlaguard-warm", "sqlaguard-changed") and cold and cold.error:
                # Each would first need a full scan that has just failed.
                done[c.key] = Result(c, error="not run: the cold scan failed")
                log(f"[{c.key}] not run: the cold scan failed")
            else:
                done[c.key] = run_case(c, args.timeout, log, budget or None)
            report(final=False)
    finally:
        ws.restore()
        shutil.rmtree(ws.ruff_cache, ignore_errors=True)
    print(report(final=True))
    if output:
        print(f"written to {output}", file=sys.stderr)
    return 1 if any(r.error for r in done.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
