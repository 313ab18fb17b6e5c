"""LoopWatcher against a real event loop: real sleeps, CPU loops and C calls."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import threading
import time

import pytest

from sqlaguard.runtime.loopwatch import LoopWatcher
from watch_helpers import Recorder, innermost_in, line_of

HERE = __file__
ORIGINAL_HANDLE_RUN = asyncio.events.Handle._run
MODES = ["handle", "heartbeat"]
# Heartbeat mode reports the heartbeat's lateness: a lower bound, short by at most
# threshold/2 (see loopwatch's docstring). Handle mode times the stall exactly.
SLACK_MS = {"handle": 0.0, "heartbeat": 50.0}


def sleep_on_loop():
    time.sleep(0.3)  # <- sleep


def cpu_loop():
    # 300 ms of this thread's CPU time, however busy the machine is.
    deadline = time.thread_time() + 0.3
    n = 0
    while time.thread_time() < deadline:  # <- cpu
        n += 1  # <- cpu-body
    return n


def slow_sqlite_query():
    conn = sqlite3.connect(":memory:")
    sql = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1500000) "
           "SELECT count(*) FROM c")
    started = time.perf_counter()
    conn.execute(sql).fetchall()  # <- sqlite
    conn.close()
    return time.perf_counter() - started


def big_hash():
    data = b"x" * 250_000_000
    started = time.perf_counter()
    hashlib.sha256(data).hexdigest()  # <- hash
    return time.perf_counter() - started


def gil_holding_call():
    started = time.perf_counter()
    sum(range(15_000_000))  # <- gil
    return time.perf_counter() - started


async def run_blocking(fn, name):
    """Run ``fn`` on the loop inside a named task, then let the loop pass through select."""
    result = await asyncio.create_task(asyncio.to_thread(lambda: None) if fn is None else _call(fn),
                                       name=name)
    for _ in range(3):
        await asyncio.sleep(0.01)
    return result


async def _call(fn):
    return fn()


def watch(mode, threshold_ms, body):
    """Run ``body(loop)`` under a LoopWatcher; returns (recorder, watcher, loop thread id)."""
    rec = Recorder()
    state = {}

    async def main():
        loop = asyncio.get_running_loop()
        watcher = LoopWatcher(loop, threshold_ms, rec, mode=mode)
        watcher.start()
        assert watcher.mode == mode
        state["watcher"] = watcher
        try:
            state["result"] = await body(loop)
        finally:
            watcher.stop()

    asyncio.run(main())
    return rec, state["watcher"], state.get("result")


@pytest.mark.parametrize("mode", MODES)
def test_time_sleep_in_a_coroutine_is_one_stall_naming_the_sleep_line(mode):
    main_thread = threading.get_ident()
    rec, _, _ = watch(mode, 100, lambda loop: run_blocking(sleep_on_loop, "sleeper"))

    assert len(rec.calls) == 1
    thread, (duration_ms, frames, task) = rec.calls[0]
    assert thread == main_thread  # delivered on the loop thread
    assert duration_ms >= 300 - SLACK_MS[mode]
    assert innermost_in(frames, HERE)[1:] == (line_of(HERE, "sleep"), "sleep_on_loop")
    assert task is not None and task.get_name() == "sleeper"


@pytest.mark.parametrize("mode", MODES)
def test_pure_python_cpu_loop_is_reported_inside_the_loop(mode):
    rec, _, _ = watch(mode, 100, lambda loop: run_blocking(cpu_loop, "cruncher"))

    assert len(rec.calls) == 1
    duration_ms, frames, task = rec.calls[0][1]
    assert duration_ms >= 300 - SLACK_MS[mode]
    frame = innermost_in(frames, HERE)
    assert frame[2] == "cpu_loop"
    assert frame[1] in (line_of(HERE, "cpu"), line_of(HERE, "cpu-body"))
    assert task.get_name() == "cruncher"


@pytest.mark.parametrize("mode", MODES)
def test_c_call_releasing_the_gil_sqlite_query_names_its_line(mode):
    rec, _, took = watch(mode, 100, lambda loop: run_blocking(slow_sqlite_query, "query"))

    assert took >= 0.1, "the query must stall the loop for this test to mean anything"
    assert len(rec.calls) == 1
    duration_ms, frames, _ = rec.calls[0][1]
    assert duration_ms >= took * 1000 - SLACK_MS[mode]
    assert innermost_in(frames, HERE)[1:] == (line_of(HERE, "sqlite"), "slow_sqlite_query")


def test_c_call_releasing_the_gil_hashlib_names_its_line():
    rec, _, took = watch("handle", 100, lambda loop: run_blocking(big_hash, "hasher"))

    assert took >= 0.1, "the hash must stall the loop for this test to mean anything"
    assert len(rec.calls) == 1
    duration_ms, frames, _ = rec.calls[0][1]
    assert duration_ms >= took * 1000
    assert innermost_in(frames, HERE)[1:] == (line_of(HERE, "hash"), "big_hash")


def test_c_call_holding_the_gil_is_still_reported_once_with_its_duration():
    rec, _, took = watch("handle", 100, lambda loop: run_blocking(gil_holding_call, "holder"))

    assert took >= 0.1, "the call must stall the loop for this test to mean anything"
    assert len(rec.calls) == 1
    duration_ms, frames, _ = rec.calls[0][1]
    assert duration_ms >= took * 1000
    # The sampler was frozen during the call: whatever it saw afterwards is in this function.
    frame = innermost_in(frames, HERE)
    assert frame is None or frame[2] in ("gil_holding_call", "_call")


@pytest.mark.parametrize("mode", MODES)
def test_a_busy_loop_of_short_callbacks_is_not_a_stall(mode):
    async def busy(loop):
        async def worker():
            for _ in range(60):
                deadline = time.perf_counter() + 0.0002
                while time.perf_counter() < deadline:
                    pass
                await asyncio.sleep(0)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(40)))
        return time.perf_counter() - started

    rec, _, took = watch(mode, 150, busy)
    assert took >= 0.3, "the loop must have been busy far longer than the threshold"
    assert rec.calls == []


def test_a_long_loop_iteration_of_many_short_steps_is_not_a_stall():
    """40 tasks each doing 4 ms of work per step: every loop iteration takes ~160 ms, yet no
    single callback blocks the loop, so there is no line to blame."""
    async def crowded(loop):
        async def worker():
            for _ in range(4):
                deadline = time.perf_counter() + 0.004
                while time.perf_counter() < deadline:
                    pass
                await asyncio.sleep(0)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(40)))
        return time.perf_counter() - started

    rec, _, took = watch("handle", 100, crowded)
    assert took >= 0.5
    assert rec.calls == []


def test_time_the_os_kept_the_loop_off_the_cpu_is_not_the_apps_stall():
    """Three CPU hogs pinned to the loop's CPU: a step needing 40 ms of CPU takes far
    longer than the threshold in wall time, but the app did not block the loop."""
    import os
    import subprocess
    import sys

    if not os.path.exists(f"/proc/self/task/{threading.get_native_id()}/schedstat"):
        pytest.skip("needs Linux /proc/<pid>/task/<tid>/schedstat")
    cpu = min(os.sched_getaffinity(0))
    saved = os.sched_getaffinity(0)
    hogs = [subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\n"
                              "while True: pass"]) for _ in range(3)]
    walls = []

    def cpu_bound_step():
        started, cpu_start = time.perf_counter(), time.thread_time()
        while time.thread_time() - cpu_start < 0.04:
            pass
        walls.append(time.perf_counter() - started)

    async def body(loop):
        for _ in range(3):
            await run_blocking(cpu_bound_step, "step")

    os.sched_setaffinity(0, {cpu})  # this thread, so the loop and the sampler share the hogs' CPU
    try:
        time.sleep(0.2)  # let the hogs start spinning
        rec, _, _ = watch("handle", 100, body)
    finally:
        os.sched_setaffinity(0, saved)
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert max(walls) >= 0.1, "the hogs must have stretched the step past the threshold"
    assert rec.calls == []


def test_a_garbage_collection_pause_is_not_blamed_on_the_app():
    import gc

    junk = [[i] for i in range(300_000)]  # built before the loop: only the collection stalls
    walls = []

    def collect():
        started = time.perf_counter()
        gc.collect()
        walls.append(time.perf_counter() - started)

    rec, _, _ = watch("handle", 10, lambda loop: run_blocking(collect, "gc"))
    del junk
    assert walls[0] >= 0.01, "the collection must outlast the threshold for this test to mean anything"
    assert rec.calls == []


@pytest.mark.parametrize("mode", MODES)
def test_a_stall_under_the_threshold_is_not_reported(mode):
    def short():
        time.sleep(0.02)

    rec, _, _ = watch(mode, 150, lambda loop: run_blocking(short, "short"))
    assert rec.calls == []


def test_each_stall_is_reported_once():
    async def two_stalls(loop):
        await run_blocking(sleep_on_loop, "first")
        await asyncio.sleep(0.05)
        await run_blocking(sleep_on_loop, "second")

    rec, _, _ = watch("handle", 100, two_stalls)
    assert [c[1][2].get_name() for c in rec.calls] == ["first", "second"]


def test_a_failing_callback_never_reaches_the_loop(caplog):
    def broken(duration_ms, frames, task):
        raise ValueError("monitor bug")

    async def main():
        watcher = LoopWatcher(asyncio.get_running_loop(), 100, broken)
        watcher.start()
        try:
            await run_blocking(sleep_on_loop, "a")
            await run_blocking(sleep_on_loop, "b")
            return "loop still fine"
        finally:
            watcher.stop()

    with caplog.at_level(logging.ERROR, logger="sqlaguard"):
        assert asyncio.run(main()) == "loop still fine"
    assert len([r for r in caplog.records if "callback failed" in r.getMessage()]) == 1


@pytest.mark.parametrize("mode", MODES)
def test_stop_leaves_no_thread_no_patch_no_pending_callback(mode):
    rec = Recorder()

    async def main():
        loop = asyncio.get_running_loop()
        watcher = LoopWatcher(loop, 100, rec, mode=mode)
        watcher.start()
        assert any(t.name == "sqlaguard-loopwatch" for t in threading.enumerate())
        await asyncio.sleep(0.12)  # a few heartbeats
        watcher.stop()
        assert asyncio.events.Handle._run is ORIGINAL_HANDLE_RUN
        ours = [h for h in loop._scheduled if not h.cancelled()
                and getattr(h._callback, "__self__", None) is watcher]
        assert ours == []
        await run_blocking(sleep_on_loop, "after-stop")

    asyncio.run(main())
    assert not any(t.name == "sqlaguard-loopwatch" for t in threading.enumerate())
    assert rec.calls == []


def test_heartbeat_mode_on_a_loop_started_from_another_thread():
    """start()/stop() called from outside the loop thread (e.g. a test harness)."""
    rec = Recorder()
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        while not loop.is_running():
            time.sleep(0.001)
        watcher = LoopWatcher(loop, 100, rec, mode="heartbeat")
        watcher.start()
        asyncio.run_coroutine_threadsafe(run_blocking(sleep_on_loop, "remote"), loop).result()
        watcher.stop()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join()
        loop.close()
    assert len(rec.calls) == 1
    thread, (duration_ms, frames, task) = rec.calls[0]
    assert thread == runner.ident
    assert innermost_in(frames, HERE)[1] == line_of(HERE, "sleep")


def test_two_watchers_on_one_loop_both_report_and_stop_independently():
    first, second = Recorder(), Recorder()

    async def main():
        loop = asyncio.get_running_loop()
        a, b = LoopWatcher(loop, 100, first), LoopWatcher(loop, 100, second)
        a.start()
        b.start()
        await run_blocking(sleep_on_loop, "both")
        a.stop()
        await run_blocking(sleep_on_loop, "second-only")
        b.stop()
        assert asyncio.events.Handle._run is ORIGINAL_HANDLE_RUN

    asyncio.run(main())
    assert [c[1][2].get_name() for c in first.calls] == ["both"]
    assert [c[1][2].get_name() for c in second.calls] == ["both", "second-only"]
