"""Time one benchmark case: warm-ups, then timed runs of a real subprocess."""

from __future__ import annotations

import os
import re
import resource
import signal
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# A finding line starts with its location: "path:line:col" (ruff, flake8, sqlaguard) or
# fixit's "path@line:col". Source snippets under a finding are indented, so never match.
_FINDING = re.compile(r"^\S+?(?::\d+:\d+|@\d+:\d+)")


@dataclass
class Case:
    key: str
    group: str  # "corpus" or "single"
    label: str
    cmd: list[str]
    cwd: Path
    lines: int
    ok_codes: tuple[int, ...] = (0, 1)
    repeats: int = 5
    warmups: int = 1
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[], None] | None = None  # once, before warm-ups, not timed
    before_each: Callable[[int], None] | None = None  # before every run, not timed
    after_each: Callable[[int], None] | None = None  # between runs, not timed
    teardown: Callable[[], None] | None = None
    note: str = ""
    count_findings: bool = True


@dataclass
class Result:
    case: Case
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user+sys of the whole process tree
    load: tuple[float, float] = (0.0, 0.0)  # 1-min load average before and after the case
    findings: int | None = None
    error: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times and not self.error else None

    @property
    def median_cpu(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu and not self.error else None


class RunError(Exception):
    pass


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    # Users' Python tools cache their bytecode; without this the editable sqlaguard install
    # would be recompiled on every run when the calling shell disables bytecode writing.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_once(case: Case, timeout: float) -> tuple[float, float, str]:
    env = child_env(case.env)
    # Output goes to a file: a pipe that nobody drains fast enough would slow chatty tools.
    with tempfile.TemporaryFile() as out:
        cpu_start = _children_cpu()
        start = time.perf_counter()
        # Own process group: on a time-out the tool's worker processes are ended with it
        # instead of being left running (and skewing every later measurement).
        proc = subprocess.Popen(case.cmd, cwd=case.cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise RunError(f"timed out after {timeout:.0f} s") from None
        elapsed = time.perf_counter() - start
        cpu = _children_cpu() - cpu_start
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if proc.returncode not in case.ok_codes:
        tail = " | ".join(text.strip().splitlines()[-3:])[:300]
        raise RunError(f"exit code {proc.returncode}: {tail}")
    return elapsed, cpu, text


def run_case(case: Case, timeout: float, log: Callable[[str], None],
             budget: float | None = None) -> Result:
    """Warm-ups then timed runs; past `budget` seconds (setup and warm-ups included) no
    further timed run is started once one has been taken, so a slow case stays bounded."""
    result = Result(case)
    case_start = time.perf_counter()
    log(f"[{case.key}] {' '.join(case.cmd)}  (warm-ups={case.warmups}, runs={case.repeats})")
    load_before = os.getloadavg()[0]
    try:
        if case.setup:
            case.setup()
        for i in range(case.warmups + case.repeats):
            if case.before_each:
                case.before_each(i)
            elapsed, cpu, text = run_once(case, timeout)  # teardown restores on error
            if i >= case.warmups:
                result.times.append(elapsed)
                result.cpu.append(cpu)
                log(f"    run {i - case.warmups + 1}: {elapsed:.3f} s wall, {cpu:.3f} s cpu")
            if case.count_findings:
                result.findings = sum(1 for line in text.splitlines() if _FINDING.search(line))
            if i + 1 == case.warmups + case.repeats:
                break
            spent = time.perf_counter() - case_start
            if budget is not None and result.times and spent > budget:
                log(f"    budget of {budget:.0f} s spent ({spent:.0f} s): "
                    f"{len(result.times)} of {case.repeats} runs taken")
                break
            # Only between runs: after the last one the teardown restores, nothing to re-warm.
            if case.after_each:
                case.after_each(i)
    except RunError as exc:
        result.error = str(exc)
        log(f"    ERROR: {exc}")
    finally:
        if case.teardown:
            case.teardown()
        result.load = (load_before, os.getloadavg()[0])
    return result
