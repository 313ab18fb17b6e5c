"""Running the real command line in tests."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args: str, cwd: str = ROOT, check_exit=None) -> subprocess.CompletedProcess:
    """The real command line, as a subprocess of this interpreter (the installed package)."""
    proc = subprocess.run([sys.executable, "-m", "sqlaguard.analyzer", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    if check_exit is not None:
        assert proc.returncode == check_exit, (proc.returncode, proc.stdout, proc.stderr)
    return proc
