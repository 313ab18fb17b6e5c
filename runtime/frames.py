"""What counts as the user's code, and how to find the user's line from anywhere.

Every check uses this one filter, so "location" means the same thing in every finding:
the innermost frame that is not the standard library, not an installed third-party
package and not sqlaguard itself.
"""
from __future__ import annotations

import os
import site
import sys
import sysconfig
from types import FrameType

Frame = tuple[str, int, str]  # (filename, lineno, function), outermost first

_SQLAGUARD_DIRS = tuple(
    os.path.normcase(os.path.dirname(os.path.abspath(p)))
    for p in (__file__, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "analyzer", "x"))
)


def _library_dirs() -> tuple[str, ...]:
    dirs: set[str] = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            dirs.add(paths[key])
    for getter in (getattr(site, "getsitepackages", None), getattr(site, "getusersitepackages", None)):
        if getter is None:
            continue
        try:
            found = getter()
        except Exception:  # virtualenv's old site.py lacks some of these
            continue
        dirs.update([found] if isinstance(found, str) else found)
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        dirs.add(os.path.join(prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}"))
    return tuple(sorted(os.path.normcase(os.path.abspath(d)) + os.sep for d in dirs))


_LIBRARY_DIRS = _library_dirs()
_cache: dict[str, bool] = {}


def is_user_file(filename: str) -> bool:
    cached = _cache.get(filename)
    if cached is not None:
        return cached
    result = _classify(filename)
    if len(_cache) < 10_000:
        _cache[filename] = result
    return result


def _classify(filename: str) -> bool:
    if not filename or filename.startswith("<"):
        return False  # <frozen ...>, <string>, <stdin>
    path = os.path.normcase(os.path.abspath(filename))
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    if path.startswith(_LIBRARY_DIRS):
        return False
    return not any(path.startswith(d + os.sep) for d in _SQLAGUARD_DIRS)


_LOOP_CALLBACK = os.path.join("asyncio", "events.py")


def is_sqlaguard_file(filename: str) -> bool:
    path = os.path.normcase(os.path.abspath(filename))
    return any(path.startswith(d + os.sep) for d in _SQLAGUARD_DIRS)


def _walk(frame: FrameType | None, limit: int) -> list[Frame]:
    out: list[Frame] = []
    while frame is not None and len(out) < limit:
        code = frame.f_code
        if code.co_name == "_run" and code.co_filename.endswith(_LOOP_CALLBACK):
            # The event loop running a task step: what lies beyond is whoever started the
            # loop (asyncio.run in a script or test), not the code this task runs for.
            break
        out.append((code.co_filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    out.reverse()
    return out


def _parent_greenlet_frame() -> FrameType | None:
    """The frame the spawning greenlet is suspended in, when running in a SQLAlchemy greenlet.

    Inside greenlet_spawn (AsyncSession methods, awaitable_attrs, run_sync) the current
    stack starts at the spawned greenlet and has no application frames; the caller's
    stack is the parent greenlet's.
    """
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return None
    try:
        current = greenlet.getcurrent()
    except Exception:
        return None
    if not getattr(current, "__sqlalchemy_greenlet_provider__", False):
        return None
    parent = current.parent
    return getattr(parent, "gr_frame", None) if parent is not None else None


def full_stack(skip: int = 1, limit: int = 200) -> list[Frame]:
    """The current stack, outermost first, continued into the spawning greenlet's stack."""
    frame: FrameType | None = sys._getframe(skip)
    inner = _walk(frame, limit)
    parent = _parent_greenlet_frame()
    outer = _walk(parent, limit) if parent is not None else []
    return outer + inner


def greenlet_child_stack(skip: int = 1, limit: int = 200) -> list[Frame]:
    """Only the frames of the current (spawned) greenlet, outermost first."""
    return _walk(sys._getframe(skip), limit)


_LOOP_DRIVERS = {
    ("events.py", "_run"), ("base_events.py", "_run_once"), ("base_events.py", "run_forever"),
    ("base_events.py", "run_until_complete"), ("runners.py", "run"),
}


def task_frames(frames: list[Frame]) -> list[Frame]:
    """The frames of the callback the loop is running, without the loop and whoever started it.

    A stack sampled from outside the loop thread (the loop watcher) runs up through the
    event loop into asyncio.run's caller, which is user code in a script or a test but not
    the code that blocked.
    """
    for i in range(len(frames) - 1, -1, -1):
        filename, _, function = frames[i]
        if os.path.basename(filename) in _LOOP_FILES and (os.path.basename(filename), function) in _LOOP_DRIVERS \
                and os.sep + "asyncio" + os.sep in filename:
            return frames[i + 1:]
    return frames


_LOOP_FILES = {name for name, _ in _LOOP_DRIVERS}


def user_frames(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if is_user_file(f[0])]


def innermost_user(frames: list[Frame]) -> Frame | None:
    for frame in reversed(frames):
        if is_user_file(frame[0]):
            return frame
    return None


def coroutine_origin_user_frames() -> list[Frame]:
    """Where the current task's coroutine was created, when origin tracking is on.

    A coroutine handed straight to gather/create_task (`gather(session.scalar(q), ...)`)
    runs in a task whose stack holds no application frame; the line that created the
    coroutine is the user's.
    """
    try:
        import asyncio

        task = asyncio.current_task()
    except RuntimeError:
        return []
    if task is None:
        return []
    origin = getattr(task.get_coro(), "cr_origin", None) or ()
    # cr_origin is innermost first
    return [tuple(f) for f in reversed(origin) if is_user_file(f[0])]  # type: ignore[misc]


def format_location(frame: Frame | None) -> str | None:
    if frame is None:
        return None
    return f"{_display_path(frame[0])}:{frame[1]}"


def _display_path(filename: str) -> str:
    try:
        rel = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return filename
    return filename if rel.startswith("..") else rel
