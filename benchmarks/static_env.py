"""Versions of the tools and a description of the machine, recorded with the results."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git(repo: Path, *args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def tool_versions(repo: Path) -> dict[str, str]:
    rev = _git(repo, "rev-parse", "--short", "HEAD")
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no")
    return {
        "python": platform.python_version(),
        "sqlaguard": f"{_version('sqlaguard')} (git {rev}{' + uncommitted changes' if dirty else ''})",
        "libcst": _version("libcst"),
        "ruff": _version("ruff"),
        "flake8": _version("flake8"),
        "flake8-async": _version("flake8-async"),
        "fixit": _version("fixit"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _mem_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine() -> dict[str, str]:
    return {
        "cores (os.cpu_count)": str(os.cpu_count()),
        "cores usable (affinity)": str(usable_cores()),
        "cpu": _cpu_model(),
        "memory": _mem_total(),
        "os": platform.platform(),
    }
