"""SQR501/SQR502: turns the loop watcher's stalls and the blocking-call detector's calls into findings."""
from __future__ import annotations

import linecache
import logging
from typing import TYPE_CHECKING, Any

from . import frames as fr
from .context import current_request
from .failopen import fail_open

if TYPE_CHECKING:
    from .monitor import Monitor

logger = logging.getLogger("sqlaguard")

_BLOCKING_HINT = {
    "time.sleep": "use `await asyncio.sleep(...)`",
    "requests": "use httpx.AsyncClient, or `await asyncio.to_thread(...)`",
    "sqlalchemy-sync": "use AsyncSession / AsyncEngine with an async driver",
}
_DRIVER_HINT = "use an async driver (asyncpg, psycopg async, aiosqlite, aiomysql) through AsyncSession"


class LoopWatch:
    def __init__(self, monitor: "Monitor"):
        self.monitor = monitor
        self._loop: Any = None
        self._watcher: Any = None
        self._detector: Any = None
        self._unavailable_logged = False

    def ensure(self, loop: Any, thread_id: int) -> None:
        if loop is self._loop:
            return
        self.stop()
        self._loop = loop
        enabled = self.monitor.enabled
        if "SQR501" in enabled:
            try:
                from .loopwatch import LoopWatcher
            except ImportError:
                self._log_unavailable("SQR501")
            else:
                self._watcher = LoopWatcher(loop, self.monitor.block_threshold_ms, self.on_stall)
                self._watcher.start()
        if "SQR502" in enabled:
            try:
                from .blocking import BlockingCallDetector
            except ImportError:
                self._log_unavailable("SQR502")
            else:
                self._detector = BlockingCallDetector(thread_id, self.on_call)
                self._detector.start()

    def _log_unavailable(self, code: str) -> None:
        if not self._unavailable_logged:
            self._unavailable_logged = True
            logger.info("sqlaguard: %s is not available in this build", code)

    def stop(self) -> None:
        watcher, detector = self._watcher, self._detector
        self._watcher = self._detector = None
        self._loop = None
        if detector is not None:
            detector.stop()
        if watcher is not None:
            watcher.stop()

    @fail_open
    def on_stall(self, duration_ms: float, frames: list, task: Any) -> None:
        ctx = self.monitor.request_of_task(task)
        frames = fr.task_frames(list(frames))
        user = fr.user_frames(frames)
        if not user:
            return  # nothing of the application's was running: no line to blame
        # The library frame the user's line was inside (not sqlaguard's own wrappers) tells what blocked.
        callees = [f for f in frames[frames.index(user[-1]) + 1:] if not fr.is_sqlaguard_file(f[0])]
        tail = callees[-1] if callees else None
        source = linecache.getline(user[-1][0], user[-1][1]).strip()
        where = source.split("  #")[0] or user[-1][2]
        if callees:
            where += f" (inside {callees[0][2]})"
        self.monitor.report(
            "SQR501",
            f"the event loop was blocked for {duration_ms:.0f} ms (threshold {self.monitor.block_threshold_ms:.0f} ms)"
            f"; every other request waited. Move the work off the loop with `await asyncio.to_thread(...)` "
            f"or use an async API",
            ctx=ctx, location=fr.format_location(user[-1]), stack=user + ([tail] if tail else []),
            duration_ms=duration_ms, details=f"blocked at: {where}",
        )

    @fail_open
    def on_call(self, kind: str, detail: str, frames: list) -> None:
        user = fr.user_frames(frames)
        if not user:
            return
        ctx = current_request.get()
        hint = _BLOCKING_HINT.get(kind, _DRIVER_HINT)
        self.monitor.report(
            "SQR502",
            f"blocking call ({kind}) on the event-loop thread; {hint}",
            ctx=ctx, location=fr.format_location(user[-1]), stack=user, details=f"{kind}: {detail}",
        )
