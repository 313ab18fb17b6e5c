"""SQR202: "coroutine ... was never awaited" during a request.

CPython reports an unawaited coroutine by calling warnings._warn_unawaited_coroutine(coro)
when the coroutine is finalized; wrapping that one function hands us the coroutine itself,
whose cr_origin (origin tracking is switched on by the monitor) names the creating line.
Filters that silence the warning do not hide the finding.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from . import frames as fr
from .context import current_request
from .failopen import fail_open

if TYPE_CHECKING:
    from .monitor import Monitor


class UnawaitedHook:
    def __init__(self, monitor: "Monitor"):
        self.monitor = monitor
        self._original: Any = None
        self._wrapper: Any = None

    def install(self) -> None:
        original = getattr(warnings, "_warn_unawaited_coroutine", None)
        if original is None:
            return  # not CPython: the check is unavailable
        hook = self

        def _warn_unawaited_coroutine(coro: Any) -> None:
            hook.on_unawaited(coro)
            # Warn from here with stacklevel=2, as the original does, so the warning keeps its
            # usual location (the frame that dropped the coroutine) and the user's filters apply.
            warnings.warn(_message(coro), category=RuntimeWarning, stacklevel=2, source=coro)

        self._original = original
        self._wrapper = _warn_unawaited_coroutine
        warnings._warn_unawaited_coroutine = _warn_unawaited_coroutine  # type: ignore[attr-defined]

    def remove(self) -> None:
        if self._wrapper is not None and getattr(warnings, "_warn_unawaited_coroutine", None) is self._wrapper:
            warnings._warn_unawaited_coroutine = self._original  # type: ignore[attr-defined]
        self._wrapper = None

    @fail_open
    def on_unawaited(self, coro: Any) -> None:
        ctx = current_request.get()
        if ctx is None:
            return
        origin = getattr(coro, "cr_origin", None)
        if origin is None:
            # Created before install or off the loop thread. The stack at finalization is no
            # evidence: a coroutine caught in a reference cycle is finalized by the garbage
            # collector in whatever code happens to run then.
            return
        # Innermost first. No application frame in it: a library made the coroutine.
        user = [tuple(f) for f in reversed(origin) if fr.is_user_file(f[0])]
        if not user:
            return
        name = getattr(coro, "__qualname__", None) or getattr(coro, "__name__", "?")
        self.monitor.report(
            "SQR202",
            f"coroutine '{name}' was never awaited, so it never ran; await it, or hand it to asyncio.create_task / "
            "asyncio.gather",
            ctx=ctx, location=fr.format_location(user[-1]), stack=user, details=name,
        )


def _message(coro: Any) -> str:
    """The same text as CPython's warnings._warn_unawaited_coroutine."""
    import linecache
    import traceback

    lines = [f"coroutine '{coro.__qualname__}' was never awaited\n"]
    origin = getattr(coro, "cr_origin", None)
    if origin is not None:
        def extract():
            for filename, lineno, funcname in reversed(origin):
                line = linecache.getline(filename, lineno)
                yield (filename, lineno, funcname, line)

        lines.append("Coroutine created at (most recent call last)\n")
        lines += traceback.format_list(list(extract()))
    return "".join(lines).rstrip("\n")
