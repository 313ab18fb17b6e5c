"""Overhead of sqlaguard's runtime monitor against no monitor, asyncio debug mode and blockbuster.

    .venv/bin/python benchmarks/runtime_bench.py            # 5 rounds x 4 configurations
    .venv/bin/python benchmarks/runtime_bench.py --rounds 1 --duration 3   # a quick look

Each run starts the app (benchmarks/bench_launcher.py: the reference app when present)
under uvicorn on 127.0.0.1 with a fresh aiosqlite database, seeds it through its own API,
warms it up, then drives its correct read routes with 50 keep-alive connections from a
separate process (wrk when installed, else benchmarks/loadgen.py), bounded in time and in
requests. Configurations are interleaved (rotated order each round) and repeated; the
server's CPU time per request comes from /proc. Results go to docs/runtime_bench.md
(--out) and a JSON file beside it. Linux only (/proc, taskset).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ("none", "sqlaguard", "asyncio-debug", "blockbuster")
EXTRA_CONFIGS = ("watch-only",)  # attribution only: see bench_launcher.py
AUTHORS, BOOKS_PER_AUTHOR = 20, 5
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def http(method: str, url: str, body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def read_paths() -> list[str]:
    """The workload: the app's correct read routes, spread over the seeded rows."""
    paths = []
    for author in range(1, AUTHORS + 1):
        paths.append(f"/authors/{author}")
        paths.append(f"/authors/{author}/titles")
        for b in range(BOOKS_PER_AUTHOR):
            paths.append(f"/books/{(author - 1) * BOOKS_PER_AUTHOR + b + 1}")
    return paths


class Server:
    def __init__(self, config: str, app: str, cpu: str | None, workdir: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, BENCH_MODE=config, BENCH_APP=app, PYTHONUNBUFFERED="1",
                   BOOKSHOP_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / f'{config}.db'}")
        env.pop("PYTHONASYNCIODEBUG", None)
        env.pop("SQLAGUARD_RUNTIME", None)  # the refapp's own switch: the launcher wires the monitor
        if config == "asyncio-debug":
            env["PYTHONASYNCIODEBUG"] = "1"
        cmd = [sys.executable, "-m", "uvicorn", "benchmarks.bench_launcher:app",
               "--app-dir", str(ROOT), "--host", "127.0.0.1", "--port", str(self.port),
               "--loop", "asyncio", "--no-access-log", "--log-level", "warning"]
        if cpu is not None:
            cmd = ["taskset", "-c", cpu] + cmd
        for stale in workdir.glob(f"{config}.db*"):
            stale.unlink()
        self.log_path = workdir / f"{config}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                http("GET", self.base + "/authors/0")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in time")

    def seed(self) -> None:
        for a in range(1, AUTHORS + 1):
            status, body = http("POST", self.base + "/authors", {"name": f"Author {a}"})
            assert status == 201, (status, body)
            author_id = json.loads(body)["id"]
            for b in range(BOOKS_PER_AUTHOR):
                status, body = http("POST", f"{self.base}/authors/{author_id}/books",
                                    {"title": f"Book {a}.{b}", "price_cents": 100 * b})
                assert status == 201, (status, body)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return self.log_path.read_text()


WRK_SCRIPT = """
local paths = {%s}
local i = 0
local done = 0
local max = %d
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
response = function(status, headers, body)
  done = done + 1
  if done >= max then wrk.thread:stop() end
end
"""


def run_wrk(base: str, seconds: float, connections: int, max_requests: int, cpu: str | None,
            workdir: Path) -> dict:
    script = workdir / "paths.lua"
    script.write_text(WRK_SCRIPT % (", ".join(f'"{p}"' for p in read_paths()), max_requests))
    # --timeout: a slow response on an overloaded machine is latency, not an error.
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "30s",
           "-s", str(script), base + "/"]
    if cpu is not None:
        cmd = ["taskset", "-c", cpu] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    return parse_wrk(out)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * _UNITS[unit]


def parse_wrk(out: str) -> dict:
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if not total or "50" not in latency:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    requests = int(total.group(1))
    elapsed_s = _ms(total.group(2) + total.group(3)) / 1e3
    return {"requests": requests, "elapsed_s": elapsed_s, "rps": requests / elapsed_s,
            "p50_ms": _ms(latency["50"]), "p99_ms": _ms(latency["99"]),
            "errors": (int(errors.group(1)) if errors else 0),
            "socket_errors": sum(map(int, sock.groups())) if sock else 0}


def run_loadgen(base: str, seconds: float, connections: int, max_requests: int, cpu: str | None,
                workdir: Path) -> dict:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "loadgen.py"), base, "--seconds", str(seconds),
           "--connections", str(connections), "--max-requests", str(max_requests)]
    if cpu is not None:
        cmd = ["taskset", "-c", cpu] + cmd
    paths = "\n".join(read_paths())
    out = subprocess.run(cmd, input=paths, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout)


def one_run(config: str, args, workdir: Path, drive) -> dict:
    server = Server(config, args.app, args.server_cpu, workdir)
    try:
        server.wait_ready()
        server.seed()
        drive(server.base, args.warmup, args.connections, args.max_requests, args.client_cpu, workdir)
        cpu_before = cpu_seconds(server.proc.pid)
        result = drive(server.base, args.duration, args.connections, args.max_requests,
                       args.client_cpu, workdir)
        cpu_used = cpu_seconds(server.proc.pid) - cpu_before
    finally:
        log = server.stop()
    if config == "asyncio-debug" and "asyncio debug mode on" not in log:
        raise RuntimeError("asyncio debug mode did not take effect in the server")
    result["cpu_ms_per_request"] = 1e3 * cpu_used / max(1, result["requests"])
    # Correct routes only: any sqlaguard finding here would be a false positive under load.
    result["findings_logged"] = len(re.findall(r"\bSQR\d{3}\b", log))
    result["log_tail"] = log[-600:] if (result["errors"] or result["findings_logged"]) else ""
    result.setdefault("socket_errors", 0)
    return result


def versions(loadgen: str) -> dict:
    out = {"python": platform.python_version(), "cores": os.cpu_count(), "load_generator": loadgen}
    for dist in ("sqlaguard", "fastapi", "starlette", "uvicorn", "h11", "sqlalchemy", "aiosqlite",
                 "blockbuster"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    if loadgen == "wrk":
        out["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0]
    return out


def summarize(runs: dict[str, list[dict]]) -> dict:
    base = runs.get("none") or []
    summary = {}
    for config, results in runs.items():
        if not results:
            continue
        med = {k: statistics.median(r[k] for r in results)
               for k in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request")}
        # Ratios pair each run with the no-monitor run of the same round, then take the median.
        paired = list(zip(results, base))
        summary[config] = {
            **med,
            "rps_min": min(r["rps"] for r in results), "rps_max": max(r["rps"] for r in results),
            "rps_ratio": statistics.median(r["rps"] / b["rps"] for r, b in paired) if paired else None,
            "cpu_ratio": statistics.median(r["cpu_ms_per_request"] / b["cpu_ms_per_request"]
                                           for r, b in paired) if paired else None,
            "p99_ratio": statistics.median(r["p99_ms"] / b["p99_ms"] for r, b in paired) if paired else None,
            "errors": sum(r["errors"] for r in results),
            "socket_errors": sum(r.get("socket_errors", 0) for r in results),
            "findings_logged": sum(r["findings_logged"] for r in results),
            "runs": len(results),
        }
    return summary


def markdown(summary: dict, info: dict, args, load: tuple) -> str:
    lines = [
        "| configuration | req/s (median) | req/s range | p50 ms | p99 ms | server CPU ms/req "
        "| req/s vs none | CPU/req vs none | p99 vs none | non-2xx | socket errors | findings |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config, s in summary.items():
        ratio = lambda v: f"{v:.3f}" if v is not None else "-"  # noqa: E731
        lines.append(
            f"| {config} | {s['rps']:.0f} | {s['rps_min']:.0f}-{s['rps_max']:.0f} | {s['p50_ms']:.1f} "
            f"| {s['p99_ms']:.1f} | {s['cpu_ms_per_request']:.3f} | {ratio(s['rps_ratio'])} "
            f"| {ratio(s['cpu_ratio'])} | {ratio(s['p99_ratio'])} | {s['errors']} | {s['socket_errors']} "
            f"| {s['findings_logged']} |")
    env = ", ".join(f"{k} {v}" for k, v in info.items())
    return "\n".join([
        f"Run: {args.rounds} rounds x {len(summary)} configurations, {args.duration:g} s measured "
        f"(+{args.warmup:g} s warm-up) per run, {args.connections} connections, at most "
        f"{args.max_requests} requests per run, app `{args.app}`, server on CPU {args.server_cpu}, "
        f"client on CPU {args.client_cpu}.",
        f"Environment: {env}.",
        f"Load average (1 min) before/after: {load[0]:.2f} / {load[1]:.2f}.",
        "",
        *lines,
    ])


START, END = "<!-- results:start -->", "<!-- results:end -->"


def write_between_markers(path: Path, table: str) -> None:
    """Replace the generated part of ``path``, keeping the prose around it."""
    text = path.read_text() if path.exists() else f"# Runtime benchmark\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(f"{head}{START}\n{table}\n{END}{tail}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--max-requests", type=int, default=200_000, help="bound per run")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--app", default=os.environ.get("BENCH_APP") or (
        "refapp" if (ROOT / "fixtures/refapp/bookshop/main.py").exists() else "minimal"))
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server ('' = no pinning)")
    parser.add_argument("--client-cpu", default="1", help="taskset CPU list for the load generator")
    parser.add_argument("--out", default=str(ROOT / "docs" / "runtime_bench.md"),
                        help="markdown file: the table replaces the text between its result markers")
    args = parser.parse_args(argv)
    if not shutil.which("taskset"):
        args.server_cpu = args.client_cpu = ""
    args.server_cpu = args.server_cpu or None
    args.client_cpu = args.client_cpu or None
    loadgen = "wrk" if args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk")) else "python"
    drive = run_wrk if loadgen == "wrk" else run_loadgen
    configs = [c for c in args.configs.split(",") if c]
    unknown = set(configs) - set(CONFIGS) - set(EXTRA_CONFIGS)
    if unknown:
        parser.error(f"unknown configurations: {sorted(unknown)}")

    runs: dict[str, list[dict]] = {c: [] for c in configs}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sqlaguard-bench-") as tmp:
        workdir = Path(tmp)
        for round_no in range(args.rounds):
            shift = round_no % len(configs)
            for config in configs[shift:] + configs[:shift]:
                result = one_run(config, args, workdir, drive)
                runs[config].append(result)
                print(f"round {round_no + 1} {config:>13}: {result['rps']:7.0f} req/s  "
                      f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
                      f"cpu {result['cpu_ms_per_request']:.3f} ms/req  non-2xx {result['errors']}  "
                      f"socket errors {result['socket_errors']}  "
                      f"findings {result['findings_logged']}", flush=True)
                if result["log_tail"]:
                    print(result["log_tail"], flush=True)
    load_after = os.getloadavg()[0]
    summary = summarize(runs)
    info = versions(loadgen)
    table = markdown(summary, info, args, (load_before, load_after))
    print("\n" + table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_between_markers(out, table)
    out.with_suffix(".json").write_text(json.dumps(
        {"info": info, "args": vars(args), "summary": summary, "runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
