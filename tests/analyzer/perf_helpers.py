"""Running the real CLI on a scratch project and reading the runner's counters (SQLAGUARD_STATS)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

from clitools import ROOT

PYPROJECT = '[project]\nname = "scratch"\ndependencies = ["sqlalchemy[asyncio]>=2.0"]\n\n[tool.sqlaguard]\n'


def write_project(root: str, files: dict[str, str]) -> None:
    with open(os.path.join(root, "pyproject.toml"), "w") as handle:
        handle.write(PYPROJECT)
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(textwrap.dedent(text))


def copy_fixtures(root: str) -> str:
    """fixtures/ copied into a scratch project, so its cache lands in the scratch directory."""
    target = os.path.join(root, "fixtures")
    shutil.copytree(os.path.join(ROOT, "fixtures"), target, ignore=shutil.ignore_patterns("__pycache__"))
    with open(os.path.join(root, "pyproject.toml"), "w") as handle:
        handle.write(PYPROJECT)
    return target


def scan(root: str, *args: str, env: dict | None = None, select: str = "ALL") -> tuple[list[tuple], dict, subprocess.CompletedProcess]:
    """(sorted findings as (relative path, line, column, code), stats, process)."""
    full_env = dict(os.environ, SQLAGUARD_STATS="1", **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "sqlaguard.analyzer", "check", ".", "--select", select,
                           "--format", "json", "--exit-zero", *args],
                          cwd=root, capture_output=True, text=True, timeout=300, env=full_env)
    assert proc.returncode == 0, proc.stderr
    stats_lines = [line for line in proc.stderr.splitlines() if line.startswith("sqlaguard-stats ")]
    assert len(stats_lines) == 1, proc.stderr
    stats = json.loads(stats_lines[0].split(" ", 1)[1])
    findings = sorted((os.path.relpath(os.path.join(root, f["path"]), root), f["line"], f["column"], f["code"])
                      for f in json.loads(proc.stdout))
    return findings, stats, proc


def edit(root: str, rel: str, old: str, new: str) -> None:
    path = os.path.join(root, rel)
    with open(path) as handle:
        text = handle.read()
    assert old in text, (rel, old)
    with open(path, "w") as handle:
        handle.write(text.replace(old, new))
