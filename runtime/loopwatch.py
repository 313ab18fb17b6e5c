"""SQR501: event-loop stalls, with the loop thread's stack sampled while it is stalled.

How a stall is timed, exactly when possible:
- "selector" mode (asyncio's selector loops, the default on Linux/macOS): the loop's
  selector ``select`` is wrapped on the instance. The loop is busy from the moment
  ``select`` returns until it is called again, so one iteration of the loop that runs
  for >= threshold is one stall, timed exactly, and reported just before the next
  ``select`` (on the loop thread, after it resumed). This wakes the loop never: an idle
  loop costs nothing.
- "heartbeat" mode (loops without a Python selector, e.g. uvloop): a ``call_later``
  heartbeat every threshold/2; a stall is a heartbeat late by >= threshold, reported by
  the late heartbeat. The lateness is a lower bound of the stall: a stall that began
  before the heartbeat was due is reported shorter (by at most threshold/2), and a
  stall shorter than threshold + threshold/2 may be missed.

In both modes one daemon thread watches the busy time and, once it passes a quarter
of the threshold, samples ``sys._current_frames()[loop thread]`` every threshold/20,
copying (filename, lineno, function) tuples and the running task, nothing more. The
stack reported is the one seen in most samples (ties: the latest), which names the
blocking line of time.sleep, of a CPU loop and of a C call that releases the GIL.
A C call that holds the GIL freezes the sampler too: the duration is still exact in
selector mode, the stack is whatever the sampler saw once the call returned (possibly
nothing: frames == [] and task None).
"""
from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections import Counter
from typing import Callable, Optional

Frame = tuple[str, int, str]  # (filename, lineno, function), outermost first
OnStall = Callable[[float, "list[Frame]", "Optional[asyncio.Task]"], None]

log = logging.getLogger("sqlaguard")

_MAX_DEPTH = 256
_MAX_DISTINCT_STACKS = 256  # bounds memory during a very long stall


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _stack_of(frame) -> tuple[Frame, ...]:
    frames = []
    while frame is not None and len(frames) < _MAX_DEPTH:
        code = frame.f_code
        frames.append((code.co_filename, frame.f_lineno or 0, code.co_name))
        frame = frame.f_back
    frames.reverse()
    return tuple(frames)


def _running_task(loop) -> "Optional[asyncio.Task]":
    current = getattr(asyncio.tasks, "_current_tasks", None)
    if isinstance(current, dict):
        return current.get(loop)
    try:  # Python versions that keep the current task elsewhere
        return asyncio.current_task(loop)
    except Exception:
        return None


class _Samples:
    """What the sampler saw during one stall, keyed by the stall's start mark."""

    def __init__(self, mark: float):
        self.mark = mark
        self.stacks: Counter = Counter()
        self.tasks: Counter = Counter()
        self.order: dict[tuple[Frame, ...], int] = {}  # stack -> index of latest sighting
        self.seen = 0

    def add(self, stack: tuple[Frame, ...], task) -> None:
        self.seen += 1
        if stack in self.stacks or len(self.stacks) < _MAX_DISTINCT_STACKS:
            self.stacks[stack] += 1
            self.order[stack] = self.seen
        if task is not None:
            self.tasks[task] += 1

    def best(self) -> tuple[list[Frame], "Optional[asyncio.Task]"]:
        if not self.stacks:
            return [], None
        stack = max(self.stacks, key=lambda s: (self.stacks[s], self.order[s]))
        task = self.tasks.most_common(1)[0][0] if self.tasks else None
        return list(stack), task


class LoopWatcher:
    """Calls ``on_stall(duration_ms, frames, task)`` on the loop thread once per stall."""

    def __init__(self, loop, threshold_ms: float, on_stall: OnStall, *, mode: str = "auto"):
        if threshold_ms <= 0:
            raise ValueError("threshold_ms must be positive")
        if mode not in ("auto", "selector", "heartbeat"):
            raise ValueError("mode must be 'auto', 'selector' or 'heartbeat'")
        self._loop = loop
        self._threshold = threshold_ms / 1000.0
        self._on_stall = on_stall
        self._requested_mode = mode
        self.mode: Optional[str] = None  # the mode in use once started
        self._active = False
        # Selector mode: when the loop last left select (None while it waits in select).
        # Heartbeat mode: when the pending heartbeat was due.
        self._mark: Optional[float] = None
        self._lock = threading.Lock()
        self._samples: Optional[_Samples] = None
        self._stop_event = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._loop_thread_id: Optional[int] = None
        self._selector = None
        self._wrapper = None
        self._selector_had_own = False
        self._selector_original = None
        self._heartbeat = None
        self._error_logged = False

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        if self._active:
            return
        self._loop_thread_id = getattr(self._loop, "_thread_id", None) or threading.get_ident()
        self._active = True
        self._stop_event.clear()
        with self._lock:
            self._samples = None
        selector = getattr(self._loop, "_selector", None)
        if self._requested_mode != "heartbeat" and callable(getattr(selector, "select", None)):
            self._wrap_selector(selector)
        elif self._requested_mode == "selector":
            self._active = False
            raise RuntimeError("this event loop has no Python selector to watch")
        else:
            self._start_heartbeat()
        self._thread = threading.Thread(target=self._sample_loop, name="sqlaguard-loopwatch",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if not self._active:
            return
        self._active = False
        self._stop_event.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        self._unwrap_selector()
        self._stop_heartbeat()
        self._mark = None
        with self._lock:
            self._samples = None  # drop task references

    # --- selector mode -----------------------------------------------------------

    def _wrap_selector(self, selector) -> None:
        original = selector.select
        threshold = self._threshold
        monotonic = time.monotonic

        def select(timeout=None):
            if self._active:
                mark = self._mark
                if mark is not None:
                    busy = monotonic() - mark
                    if busy >= threshold:
                        self._deliver(mark, busy)
                self._mark = None
                try:
                    return original(timeout)
                finally:
                    self._mark = monotonic()
            return original(timeout)

        self._selector = selector
        self._selector_original = original
        self._selector_had_own = "select" in vars(selector)
        self._wrapper = select
        selector.select = select
        self.mode = "selector"
        # start() runs on the loop thread, usually inside a callback: the loop is busy.
        self._mark = monotonic() if threading.get_ident() == self._loop_thread_id else None

    def _unwrap_selector(self) -> None:
        selector, wrapper = self._selector, self._wrapper
        self._selector = self._wrapper = None
        if selector is None:
            return
        # If someone wrapped select over ours, ours stays in their chain, inert.
        if vars(selector).get("select") is wrapper:
            if self._selector_had_own:
                selector.select = self._selector_original
            else:
                del selector.select

    # --- heartbeat mode ----------------------------------------------------------

    def _interval(self) -> float:
        return self._threshold / 2

    def _start_heartbeat(self) -> None:
        self.mode = "heartbeat"
        self._mark = time.monotonic() + self._interval()
        if threading.get_ident() == self._loop_thread_id:
            self._heartbeat = self._loop.call_later(self._interval(), self._beat)
        else:
            self._loop.call_soon_threadsafe(self._schedule_first_beat)

    def _schedule_first_beat(self) -> None:
        if self._active:
            self._mark = time.monotonic() + self._interval()
            self._heartbeat = self._loop.call_later(self._interval(), self._beat)

    def _beat(self) -> None:
        if not self._active:
            return
        now = time.monotonic()
        due = self._mark
        if due is not None and now - due >= self._threshold:
            self._deliver(due, now - due)
        self._mark = now + self._interval()
        self._heartbeat = self._loop.call_later(self._interval(), self._beat)

    def _stop_heartbeat(self) -> None:
        handle, self._heartbeat = self._heartbeat, None
        if handle is None:
            return
        if threading.get_ident() == self._loop_thread_id or not self._loop.is_running():
            handle.cancel()
        else:
            try:
                self._loop.call_soon_threadsafe(handle.cancel)
            except RuntimeError:  # loop closed: nothing will run it anyway
                handle.cancel()

    # --- sampling (watch thread) -------------------------------------------------

    def _sample_loop(self) -> None:
        calm = _clamp(self._threshold / 4, 0.002, 0.25)
        sample_after = self._threshold / 4
        sample_every = _clamp(self._threshold / 20, 0.001, 0.05)
        delay = calm
        monotonic = time.monotonic
        while not self._stop_event.wait(delay):
            mark = self._mark
            if mark is None:
                delay = calm
                continue
            busy = monotonic() - mark
            if busy < sample_after:
                delay = _clamp(sample_after - busy, 0.001, calm)
                continue
            self._take_sample(mark)
            delay = sample_every

    def _take_sample(self, mark: float) -> None:
        frame = sys._current_frames().get(self._loop_thread_id)
        if frame is None:
            return
        stack = _stack_of(frame)
        del frame
        task = _running_task(self._loop)
        if self._mark != mark:  # the loop resumed while we walked: not this stall's stack
            return
        with self._lock:
            if self._samples is None or self._samples.mark != mark:
                self._samples = _Samples(mark)
            self._samples.add(stack, task)

    # --- reporting (loop thread) -------------------------------------------------

    def _deliver(self, mark: float, duration: float) -> None:
        with self._lock:
            samples = self._samples if self._samples is not None and self._samples.mark == mark else None
            self._samples = None
        frames, task = samples.best() if samples is not None else ([], None)
        try:
            self._on_stall(duration * 1000.0, frames, task)
        except Exception:
            # Runs inside the loop's own machinery: an error here must never reach it.
            if not self._error_logged:
                self._error_logged = True
                log.exception("sqlaguard: the loop-stall callback failed (logged once)")
