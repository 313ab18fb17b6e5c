"""sqlaguard's development runtime checker for FastAPI / Starlette apps on async SQLAlchemy.

    from sqlaguard.runtime import install
    monitor = install(app, engine)

Importing this package is cheap (the pytest plugin imports it in every pytest run); the
checker's modules load on first use.
"""
from __future__ import annotations

from typing import Any

__all__ = ["install", "Monitor", "Finding", "SqlaguardError"]


def __getattr__(name: str) -> Any:
    if name in ("install", "Monitor"):
        from . import monitor

        return getattr(monitor, name)
    if name == "Finding":
        from .findings import Finding

        return Finding
    if name == "SqlaguardError":
        from .errors import SqlaguardError

        return SqlaguardError
    raise AttributeError(name)
