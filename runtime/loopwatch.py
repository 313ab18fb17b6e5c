"""SQR501: event-loop stalls, with the loop thread's stack sampled while it is stalled.

A stall is ONE callback (a task step, a call_soon callback) that keeps the loop thread
for >= threshold. Many short callbacks that add up to a long loop iteration under load
are not a stall: no line of the app blocks, and blaming one would be a false positive.

How a stall is timed:
- "handle" mode (asyncio's own loops): ``asyncio.events.Handle._run`` is wrapped, once
  per process while any watcher runs, and times each callback of a watched loop (one
  dict lookup and two clock reads per callback; other loops pay the lookup only). The
  stall is reported right after the callback returns, on the loop thread, with the task
  read from the callback itself.
- "heartbeat" mode (loops whose handles are not asyncio's, e.g. uvloop): a
  ``call_later`` heartbeat every threshold/2; a stall is a heartbeat late by >=
  threshold, reported by that heartbeat. Coarser: the lateness is a lower bound (short
  by at most threshold/2), and a long ready queue of short callbacks also delays it.

In both modes one daemon thread watches the current callback's age and, once it passes
half the threshold, samples ``sys._current_frames()[loop thread]`` every threshold/10,
copying (filename, lineno, function) tuples and the running task, nothing more. The
stack reported is the one seen in most samples (ties: the latest), which names the
blocking line of time.sleep, of a CPU loop and of a C call that releases the GIL.
A C call that holds the GIL freezes the sampler too: the duration is still exact, the
stack is whatever the sampler saw once the call returned (possibly nothing: frames []).

Time the OS kept the loop thread waiting for a CPU (another process hogging the
machine) is not the app's doing: on Linux, the watch thread reads the loop thread's
run-queue wait (/proc schedstat) at each poll, and the wait during a stall is taken
out before comparing with the threshold, so an overloaded machine does not turn short
callbacks into stalls. Garbage-collection pauses on the loop thread
(gc.callbacks) are taken out the same way: they have no line of the app to blame. The
reported duration stays the wall-clock time the loop was unavailable.
"""
from __future__ import annotations

import asyncio
import asyncio.events
import gc
import logging
import sys
import threading
import time
from collections import Counter, deque
from typing import Callable, Optional

Frame = tuple[str, int, str]  # (filename, lineno, function), outermost first
OnStall = Callable[[float, "list[Frame]", "Optional[asyncio.Task]"], None]

log = logging.getLogger("sqlaguard")

_MAX_DEPTH = 256
_MAX_DISTINCT_STACKS = 256  # bounds memory during a very long stall

# Handle mode: one class-level wrapper for every watched loop in the process.
_registry_lock = threading.Lock()
_by_loop: dict = {}  # loop -> tuple of its LoopWatchers (usually one)
_original_run = None
_monotonic = time.monotonic


def _timed_run(handle):
    watchers = _by_loop.get(handle._loop)
    if watchers is None:
        return _original_run(handle)
    start = _monotonic()
    for watcher in watchers:
        watcher._mark = start
        watcher._gc_at_mark = watcher._gc_seconds
    try:
        return _original_run(handle)
    finally:
        elapsed = _monotonic() - start
        for watcher in watchers:
            watcher._mark = None
            if elapsed >= watcher._threshold and watcher._active:
                watcher._deliver(start, elapsed, handle)


# Garbage collection pauses on the loop thread: a pause has no line of the app to blame
# (the allocation that triggered it is incidental), so it is not counted as a stall.
_gc_watchers: dict = {}  # loop thread id -> tuple of its LoopWatchers


def _on_gc(phase, info):
    watchers = _gc_watchers.get(threading.get_ident())
    if not watchers:
        return
    now = _monotonic()
    for watcher in watchers:
        if phase == "start":
            watcher._gc_started = now
        elif watcher._gc_started is not None:
            watcher._gc_seconds += now - watcher._gc_started
            watcher._gc_started = None


def _watch_gc(watcher, thread_id: int, on: bool) -> None:
    with _registry_lock:
        rest = tuple(w for w in _gc_watchers.get(thread_id, ()) if w is not watcher)
        if on:
            rest += (watcher,)
        if rest:
            _gc_watchers[thread_id] = rest
        else:
            _gc_watchers.pop(thread_id, None)
        if _gc_watchers and _on_gc not in gc.callbacks:
            gc.callbacks.append(_on_gc)
        elif not _gc_watchers and _on_gc in gc.callbacks:
            gc.callbacks.remove(_on_gc)


def _register(loop, watcher) -> None:
    global _original_run
    with _registry_lock:
        if _original_run is None:
            _original_run = asyncio.events.Handle._run
            asyncio.events.Handle._run = _timed_run
        _by_loop[loop] = _by_loop.get(loop, ()) + (watcher,)


def _unregister(loop, watcher) -> None:
    global _original_run
    with _registry_lock:
        rest = tuple(w for w in _by_loop.get(loop, ()) if w is not watcher)
        if rest:
            _by_loop[loop] = rest
        else:
            _by_loop.pop(loop, None)
        if not _by_loop and _original_run is not None:
            if asyncio.events.Handle._run is _timed_run:
                asyncio.events.Handle._run = _original_run
                _original_run = None
            # else: someone patched over us; _timed_run stays in their chain, a no-op
            # for unwatched loops, and _original_run must stay set for it.


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


def _task_of(handle) -> "Optional[asyncio.Task]":
    owner = getattr(getattr(handle, "_callback", None), "__self__", None)
    return owner if isinstance(owner, asyncio.Future) else None


def _native_id(thread_ident: int) -> Optional[int]:
    if thread_ident == threading.get_ident():
        return threading.get_native_id()
    for thread in threading.enumerate():
        if thread.ident == thread_ident:
            return thread.native_id
    return None


def _runqueue_wait(path: Optional[str]) -> Optional[float]:
    """Seconds the thread has waited for a CPU so far (Linux schedstat), None if unknown."""
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class _Samples:
    """What the sampler saw during one stall, keyed by the stall's start mark."""

    def __init__(self, mark: float, runqueue: Optional[float]):
        self.mark = mark
        self.runqueue = runqueue  # run-queue wait read shortly before the stall began
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
        if mode not in ("auto", "handle", "heartbeat"):
            raise ValueError("mode must be 'auto', 'handle' or 'heartbeat'")
        self._loop = loop
        self._threshold = threshold_ms / 1000.0
        self._on_stall = on_stall
        self._requested_mode = mode
        self.mode: Optional[str] = None  # the mode in use once started
        self._active = False
        # Handle mode: when the running callback started (None between callbacks).
        # Heartbeat mode: when the pending heartbeat was due.
        self._mark: Optional[float] = None
        self._lock = threading.Lock()
        self._samples: Optional[_Samples] = None
        self._stop_event = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._loop_thread_id: Optional[int] = None
        self._schedstat: Optional[str] = None
        self._readings: deque = deque(maxlen=8)  # (mark seen, when, run-queue wait)
        self._heartbeat = None
        self._error_logged = False
        self._gc_seconds = 0.0  # time in garbage collection on the loop thread so far
        self._gc_started: Optional[float] = None
        self._gc_at_mark = 0.0

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        if self._active:
            return
        self._loop_thread_id = getattr(self._loop, "_thread_id", None) or threading.get_ident()
        native = _native_id(self._loop_thread_id)
        self._schedstat = f"/proc/self/task/{native}/schedstat" if native is not None else None
        first_reading = _runqueue_wait(self._schedstat)
        if first_reading is None:
            self._schedstat = None
        else:  # a baseline for a stall that comes before the watch thread's first poll
            self._readings.append((None, time.monotonic(), first_reading))
        self._stop_event.clear()
        with self._lock:
            self._samples = None
        use_handles = isinstance(self._loop, asyncio.BaseEventLoop)
        if self._requested_mode == "handle" and not use_handles:
            raise RuntimeError("this event loop does not run asyncio.events.Handle callbacks")
        self._active = True
        _watch_gc(self, self._loop_thread_id, True)
        if self._requested_mode != "heartbeat" and use_handles:
            self.mode = "handle"
            _register(self._loop, self)
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
        if self.mode == "handle":
            _unregister(self._loop, self)
        _watch_gc(self, self._loop_thread_id, False)
        self._stop_heartbeat()
        self._mark = None
        with self._lock:
            self._samples = None  # drop task references

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
            self._deliver(due, now - due, None)
        self._mark = now + self._interval()
        self._gc_at_mark = self._gc_seconds
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
        sample_after = self._threshold / 2
        sample_every = _clamp(self._threshold / 10, 0.001, 0.05)
        delay = calm
        monotonic = time.monotonic
        while not self._stop_event.wait(delay):
            mark = self._mark
            now = monotonic()
            if mark is None or now - mark < sample_after:
                if self._schedstat is not None:
                    reading = (mark, now, _runqueue_wait(self._schedstat))
                    with self._lock:
                        self._readings.append(reading)
                delay = calm if mark is None else _clamp(sample_after - (now - mark), 0.001, calm)
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
                self._samples = _Samples(mark, self._baseline_for(mark))
            self._samples.add(stack, task)

    def _baseline_for(self, mark: float) -> Optional[float]:
        """The latest run-queue reading certainly taken before the stall marked ``mark``.
        Called with self._lock held."""
        for seen_mark, at, waited in reversed(self._readings):
            if seen_mark != mark or at < mark:
                return waited
        return None

    # --- reporting (loop thread) -------------------------------------------------

    def _own_time(self, mark: float, duration: float, baseline: Optional[float]) -> float:
        """The stall's duration without garbage collection and the time the thread waited
        for a CPU.

        ``baseline`` was read by the watch thread before the stalled callback began (at
        most one poll interval, threshold/4, earlier): the estimate errs towards less
        own time, i.e. towards not reporting, by at most that interval's wait."""
        duration -= self._gc_seconds - self._gc_at_mark
        now_waited = _runqueue_wait(self._schedstat)
        if baseline is None or now_waited is None:
            return duration
        return duration - (now_waited - baseline)

    def _deliver(self, mark: float, duration: float, handle) -> None:
        with self._lock:
            samples = self._samples if self._samples is not None and self._samples.mark == mark else None
            self._samples = None
            # Starved of CPU, the watch thread may not have sampled at all: its last
            # reading before the stall is the baseline then.
            baseline = samples.runqueue if samples is not None else self._baseline_for(mark)
        if self._own_time(mark, duration, baseline) < self._threshold:
            return  # the OS, not the app, kept the loop thread off the CPU
        frames, task = samples.best() if samples is not None else ([], None)
        task = _task_of(handle) or task
        try:
            self._on_stall(duration * 1000.0, frames, task)
        except Exception:
            # Runs inside the loop's own machinery: an error here must never reach it.
            if not self._error_logged:
                self._error_logged = True
                log.exception("sqlaguard: the loop-stall callback failed (logged once)")
