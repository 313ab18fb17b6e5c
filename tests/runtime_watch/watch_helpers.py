"""Shared helpers for the loop-stall and blocking-call detector tests."""
from __future__ import annotations

import os
import re
import socket
import threading
from dataclasses import dataclass, field

PG_URL = os.environ.get("SQLAGUARD_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def line_of(path: str, marker: str) -> int:
    """The line of ``path`` carrying the comment ``# <- marker``: tests name lines, not numbers."""
    pattern = re.compile(r"#\s*<-\s*" + re.escape(marker) + r"\s*$")
    with open(path, encoding="utf-8") as fh:
        hits = [n for n, text in enumerate(fh, 1) if pattern.search(text.rstrip())]
    assert len(hits) == 1, f"marker {marker!r} found {len(hits)} times in {path}"
    return hits[0]


def innermost_in(frames, path: str):
    """The innermost frame of ``frames`` that lies in ``path`` (the test's own code)."""
    target = os.path.realpath(path)
    mine = [f for f in frames or () if os.path.realpath(f[0]) == target]
    return mine[-1] if mine else None


@dataclass
class Recorder:
    """Collects callback calls together with the thread they arrived on."""
    calls: list = field(default_factory=list)

    def __call__(self, *args):
        self.calls.append((threading.get_ident(), args))


def pg_target() -> tuple[str, int, str, str]:
    """(host, port, user, database) of SQLAGUARD_PG_URL."""
    m = re.match(r"[\w+]+://(?P<user>[^:@/]*)(?::[^@]*)?@(?P<host>[^:/]+)(?::(?P<port>\d+))?/(?P<db>\w+)",
                 PG_URL)
    assert m, f"cannot parse SQLAGUARD_PG_URL {PG_URL!r}"
    return m["host"], int(m["port"] or 5432), m["user"], m["db"]


def pg_available() -> bool:
    host, port, _, _ = pg_target()
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
