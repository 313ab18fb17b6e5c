import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args: str, cwd: str = ROOT, check_exit=None) -> subprocess.CompletedProcess:
    """The real command line, as a subprocess (the installed `sqlaguard` entry point)."""
    proc = subprocess.run([sys.executable, "-m", "sqlaguard.analyzer", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    if check_exit is not None:
        assert proc.returncode == check_exit, (proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def cli():
    return run_cli
