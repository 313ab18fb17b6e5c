"""Fail open: an error inside the monitor is logged once and never reaches the app."""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable, TypeVar

from .errors import SqlaguardError

logger = logging.getLogger("sqlaguard")
_reported: set[str] = set()

F = TypeVar("F", bound=Callable[..., Any])


def fail_open(func: F) -> F:
    name = getattr(func, "__qualname__", repr(func))

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SqlaguardError:
            raise  # raise_on asked for it
        except Exception:
            log_internal_error(name)
            return None

    return wrapper  # type: ignore[return-value]


def log_internal_error(where: str) -> None:
    if where in _reported:
        return
    _reported.add(where)
    logger.error("sqlaguard internal error in %s (the app is unaffected; further errors here are not logged)",
                 where, exc_info=True)


def reset_error_log() -> None:
    """A new monitor logs its own first error per hook again."""
    _reported.clear()
