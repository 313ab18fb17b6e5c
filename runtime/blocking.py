"""SQR502: known blocking calls made on the event-loop thread, reported even when fast.

Detection sources, all filtered to "the current thread is a watched loop thread":
- one process-wide audit hook: ``time.sleep`` (where audited), ``sqlite3.connect`` and
  ``socket.connect`` on a blocking socket (asyncio's own sockets are non-blocking, so
  asyncpg, httpx and aiosqlite's worker never match);
- patches, undone by ``stop()``: ``sqlite3.connect`` (only to attach a statement trace
  callback to connections opened on the loop thread, so a raw ``conn.execute`` is seen),
  ``psycopg2.connect``, ``psycopg.connect``, ``pymysql.connect``,
  ``requests.Session.send``, and ``time.sleep`` where it has no audit event (before
  3.12); libraries are patched when imported (already, or later via a meta-path hook),
  never imported by the detector;
- a class-level SQLAlchemy ``Engine`` ``before_cursor_execute`` listener that reports
  sync dialects only: an AsyncEngine's ``sync_engine`` has ``dialect.is_async`` True.

Re-entrancy (one report per user-level operation, not a cascade):
- while one of our wrappers runs (requests, psycopg2.connect, ...), nested detections
  on that thread are dropped: requests' own ``socket.connect`` is not reported twice;
- driver-level detections (sqlite3 connect/statement, driver connects, sockets) made
  from inside SQLAlchemy are dropped, because SQLAlchemy's ``before_cursor_execute``
  already reports that operation with the user's line: a sync ``Session.execute`` on
  ``create_engine("sqlite://")`` gives one ``sqlalchemy-sync`` report, not also its
  pool's ``sqlite3.connect`` and the per-statement trace. Consequence: a sync engine
  that only connects and never executes is not reported.
- events raised while ``on_call`` itself runs are dropped (its logging must not recurse).

``on_call`` exceptions propagate into the blocking call (an audit hook or SQLAlchemy
listener that raises aborts the operation), which lets the monitor implement
``raise_on``; the monitor must catch anything it does not mean to raise. The sqlite3
trace callback is the exception: sqlite3 swallows errors raised from it.
"""
from __future__ import annotations

import os
import re
import socket
import sys
import threading
import time
from typing import Callable

Frame = tuple[str, int, str]
OnCall = Callable[[str, str, "list[Frame]"], None]

_THIS_FILE = os.path.normcase(os.path.abspath(__file__))
_MAX_DEPTH = 256
_DETAIL_MAX = 300

# Process-wide state: audit hooks cannot be removed, so the hook is added at most once
# per process and becomes inert when no detector is active. Patches and the SQLAlchemy
# listener are applied by the first detector to start and undone by the last to stop.
_lock = threading.RLock()
_active: list["BlockingCallDetector"] = []
_loop_threads: dict[int, "tuple[BlockingCallDetector, ...]"] = {}
_hook_added = False
_patches: list[tuple[object, str, object, bool]] = []  # (owner, attr, original, had_own)
_sa_listener: tuple[object, str, Callable] | None = None
_tls = threading.local()  # .busy > 0 while inside one of our wrappers or on_call


def _frames_from(frame) -> list[Frame]:
    frames: list[Frame] = []
    while frame is not None and len(frames) < _MAX_DEPTH:
        code = frame.f_code
        frames.append((code.co_filename, frame.f_lineno or 0, code.co_name))
        frame = frame.f_back
    frames.reverse()
    return frames


def _caller_frames() -> list[Frame]:
    """The current stack, outermost first, without this module's frames."""
    return [f for f in _frames_from(sys._getframe(1)) if os.path.normcase(f[0]) != _THIS_FILE]


def _sqlalchemy_dir() -> str | None:
    mod = sys.modules.get("sqlalchemy")
    path = getattr(mod, "__file__", None)
    return os.path.dirname(path) + os.sep if path else None


def _inside_sqlalchemy(frames: list[Frame]) -> bool:
    root = _sqlalchemy_dir()
    return root is not None and any(f[0].startswith(root) for f in frames)


def _detector_here() -> "tuple[BlockingCallDetector, ...] | None":
    """The active detectors watching the current thread, or None (the fast exit)."""
    if not _loop_threads:
        return None
    dets = _loop_threads.get(threading.get_ident())
    if not dets or getattr(_tls, "busy", 0):
        return None
    return dets


def _report(dets: "tuple[BlockingCallDetector, ...]", kind: str, detail: str,
            frames: list[Frame]) -> None:
    _tls.busy = getattr(_tls, "busy", 0) + 1
    try:
        for det in dets:
            det._on_call(kind, detail[:_DETAIL_MAX], list(frames))
    finally:
        _tls.busy -= 1


def _report_driver(kind: str, detail: str) -> None:
    """A driver-level event: dropped when SQLAlchemy is the caller (it reports itself)."""
    dets = _detector_here()
    if dets is None:
        return
    frames = _caller_frames()
    if _inside_sqlalchemy(frames):
        return
    _report(dets, kind, detail, frames)


_LITERAL = re.compile(r"'(?:[^']|'')*'|\bX'[0-9A-Fa-f]*'|(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")


def elide_sql(sql: str) -> str:
    """Replace literals by '?': sqlite's trace callback sees the SQL with values bound."""
    return " ".join(_LITERAL.sub("?", sql).split())


def mask_url(url: object) -> str:
    """A URL or DSN with its password replaced by ***."""
    text = str(url)
    text = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.I)


# --- audit hook ------------------------------------------------------------------

_sleep_audited = False  # whether this Python raises the time.sleep audit event


def _audit_hook(event: str, args: tuple) -> None:
    # Called for every audit event in the process: keep the inactive path to one lookup.
    if not _loop_threads:
        if event == "time.sleep":
            global _sleep_audited
            _sleep_audited = True
        return
    handler = _AUDIT_HANDLERS.get(event)
    if handler is not None:
        handler(args)


def _on_time_sleep(args: tuple) -> None:
    secs = args[0] if args else 0
    if secs and secs > 0:
        _report_plain("time.sleep", f"time.sleep({secs!r})")


def _report_plain(kind: str, detail: str) -> None:
    dets = _detector_here()
    if dets is not None:
        _report(dets, kind, detail, _caller_frames())


def _on_sqlite_connect(args: tuple) -> None:
    database = args[0] if args else "?"
    _report_driver("sqlite3", f"sqlite3.connect({str(database)!r})")


def _on_socket_connect(args: tuple) -> None:
    if len(args) < 2:
        return
    sock, address = args[0], args[1]
    try:
        if sock.gettimeout() == 0.0:  # non-blocking: asyncio, asyncpg, httpx
            return
        if sock.type != socket.SOCK_STREAM:  # a UDP connect only sets the peer
            return
    except Exception:
        return
    _report_driver("socket", f"socket.connect({address!r})")


_AUDIT_HANDLERS: dict[str, Callable[[tuple], None]] = {
    "sqlite3.connect": _on_sqlite_connect,
    "socket.connect": _on_socket_connect,
    "time.sleep": _on_time_sleep,
}


def _add_audit_hook() -> None:
    """Add the hook (once per process: audit hooks cannot be removed) and learn whether
    time.sleep is audited here (CPython 3.12+), by one time.sleep(0) with nothing active."""
    sys.addaudithook(_audit_hook)
    time.sleep(0)


# --- patches -----------------------------------------------------------------------

def _guarded(original: Callable) -> Callable:
    """Run ``original`` with nested detections on this thread dropped."""
    def call(*args, **kwargs):
        _tls.busy = getattr(_tls, "busy", 0) + 1
        try:
            return original(*args, **kwargs)
        finally:
            _tls.busy -= 1
    return call


def _wrap_driver_connect(kind: str, original: Callable) -> Callable:
    run = _guarded(original)

    def connect(*args, **kwargs):
        dsn = args[0] if args else kwargs.get("dsn", kwargs.get("conninfo", ""))
        target = mask_url(dsn) if dsn else ", ".join(
            f"{k}={v!r}" for k, v in kwargs.items() if k in ("host", "port", "dbname", "database", "user"))
        _report_driver(kind, f"{kind}.connect({target})")
        return run(*args, **kwargs)
    connect.__wrapped__ = original
    return connect


def _trace_statement(sql: str) -> None:
    dets = _detector_here()
    if dets is None:
        return
    frames = _caller_frames()
    if _inside_sqlalchemy(frames):
        return
    try:
        _report(dets, "sqlite3", elide_sql(sql), frames)
    except Exception:  # sqlite3 would print and drop it anyway; say nothing
        pass


def _wrap_sqlite_connect(original: Callable) -> Callable:
    def connect(*args, **kwargs):
        conn = original(*args, **kwargs)
        # Only loop-thread connections are traced: aiosqlite's worker-thread connections
        # never run statements on the loop, so they are left untouched.
        if threading.get_ident() in _loop_threads:
            try:
                conn.set_trace_callback(_trace_statement)
            except Exception:
                pass
        return conn
    connect.__wrapped__ = original
    return connect


def _wrap_requests_send(original: Callable) -> Callable:
    run = _guarded(original)

    def send(self, request, **kwargs):
        dets = _detector_here()
        if dets is not None:
            _report(dets, "requests", f"{request.method} {mask_url(request.url)}", _caller_frames())
        return run(self, request, **kwargs)
    send.__wrapped__ = original
    return send


def _wrap_time_sleep(original: Callable) -> Callable:
    def sleep(secs):
        _on_time_sleep((secs,))
        return original(secs)
    sleep.__wrapped__ = original
    return sleep


def _patch(owner: object, attr: str, make: Callable[[Callable], Callable]) -> None:
    original = getattr(owner, attr, None)
    if original is None or any(p[0] is owner and p[1] == attr for p in _patches):
        return
    had_own = attr in vars(owner)
    setattr(owner, attr, make(original))
    _patches.append((owner, attr, original, had_own))


def _patch_sqlite3(mod) -> None:
    _patch(mod, "connect", _wrap_sqlite_connect)


def _patch_driver(mod) -> None:
    kind = mod.__name__
    _patch(mod, "connect", lambda orig: _wrap_driver_connect(kind, orig))


def _patch_requests(mod) -> None:
    _patch(mod.Session, "send", _wrap_requests_send)


# Libraries are patched when imported, never imported by us: importing requests and
# psycopg2 from start() would itself stall the loop for a few hundred ms.
_TARGETS: dict[str, Callable] = {
    "sqlite3": _patch_sqlite3,
    "psycopg2": _patch_driver,
    "psycopg": _patch_driver,
    "pymysql": _patch_driver,
    "requests.sessions": _patch_requests,
    "sqlalchemy": lambda mod: _add_sqlalchemy_listener(),
}


class _PatchOnImport:
    """A meta-path finder that patches a target module right after it first loads."""

    def find_spec(self, name, path=None, target=None):
        if name not in _TARGETS or not _active:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        original_exec = getattr(loader, "exec_module", None)
        if original_exec is None or isinstance(loader, type):  # class loaders are shared
            return spec

        def exec_module(module):
            original_exec(module)
            with _lock:
                if _active:
                    try:
                        _TARGETS[name](module)
                    except Exception:
                        pass
        try:
            # Path-based finders make one loader per module: wrapping it touches nothing else.
            loader.exec_module = exec_module
        except Exception:
            pass
        return spec


_finder = _PatchOnImport()


def _apply_patches() -> None:
    for name, patch in _TARGETS.items():
        mod = sys.modules.get(name)
        if mod is not None:
            try:
                patch(mod)
            except Exception:
                pass
    sys.meta_path.insert(0, _finder)
    if not _sleep_audited:
        # No time.sleep audit event on this Python: patch the module attribute; a
        # `from time import sleep` done before start() keeps the original and is missed.
        _patch(time, "sleep", _wrap_time_sleep)


def _undo_patches() -> None:
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    while _patches:
        owner, attr, original, had_own = _patches.pop()
        if had_own:
            setattr(owner, attr, original)
        else:
            delattr(owner, attr)


def _before_cursor_execute(conn, cursor, statement, parameters, context, executemany) -> None:
    dets = _detector_here()
    if dets is None or conn.dialect.is_async:
        return
    _report(dets, "sqlalchemy-sync", " ".join(str(statement).split()), _caller_frames())


def _add_sqlalchemy_listener() -> None:
    global _sa_listener
    if _sa_listener is not None:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    event.listen(Engine, "before_cursor_execute", _before_cursor_execute)
    _sa_listener = (Engine, "before_cursor_execute", _before_cursor_execute)


def _remove_sqlalchemy_listener() -> None:
    global _sa_listener
    if _sa_listener is not None:
        from sqlalchemy import event
        event.remove(*_sa_listener)
        _sa_listener = None


class BlockingCallDetector:
    """Calls ``on_call(kind, detail, frames)`` on the loop thread for each blocking call."""

    def __init__(self, loop_thread_id: int, on_call: OnCall):
        self._loop_thread_id = loop_thread_id
        self._on_call = on_call
        self._started = False

    def start(self) -> None:
        global _hook_added
        with _lock:
            if self._started:
                return
            if not _hook_added:
                _add_audit_hook()  # permanent: inert while nothing is active
                _hook_added = True
            if not _active:
                _active.append(self)  # the import-time patcher checks it
                _apply_patches()
            else:
                _active.append(self)
            tid = self._loop_thread_id
            _loop_threads[tid] = _loop_threads.get(tid, ()) + (self,)
            self._started = True

    def stop(self) -> None:
        with _lock:
            if not self._started:
                return
            self._started = False
            _active.remove(self)
            tid = self._loop_thread_id
            rest = tuple(d for d in _loop_threads.get(tid, ()) if d is not self)
            if rest:
                _loop_threads[tid] = rest
            else:
                _loop_threads.pop(tid, None)
            if not _active:
                _undo_patches()
                _remove_sqlalchemy_listener()
