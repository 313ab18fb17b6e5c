"""install(app, engine) -> Monitor: wires the middleware, the SQLAlchemy hooks and the loop watchers."""
from __future__ import annotations

import asyncio
import sys
import threading
import weakref
from typing import Any, Iterable

from .codes import RUNTIME_CHECKS
from .context import RequestContext, current_request, route_template
from .errors import SqlaguardError
from .failopen import reset_error_log
from .findings import NAMES, Finding, FindingStore, mask_url

ALL_CODES = frozenset(check.code for check in RUNTIME_CHECKS)
DEFAULT_CODES = frozenset(check.code for check in RUNTIME_CHECKS if check.default)
# Checks whose hook runs inside the user's own call can raise there; the rest raise at request end.
_RAISE_IN_PLACE = frozenset({"SQR401", "SQR402", "SQR301"})
_ORIGIN_DEPTH = 8


def _codes(value: Iterable[str] | str | None) -> set[str]:
    if value is None:
        return set()
    items = [value] if isinstance(value, str) else list(value)
    out: set[str] = set()
    for item in items:
        for part in str(item).replace(",", " ").split():
            part = part.upper()
            matched = {c for c in ALL_CODES if c.startswith(part)}  # "SQR4" selects the 4xx group
            if not matched:
                raise ValueError(f"unknown sqlaguard runtime code {part!r}; known: {', '.join(sorted(ALL_CODES))}")
            out |= matched
    return out


class Monitor:
    def __init__(
        self,
        app: Any,
        engines: list[Any],
        *,
        block_threshold_ms: float = 100,
        n_plus_one_threshold: int = 5,
        select: Iterable[str] | str | None = None,
        ignore: Iterable[str] | str | None = None,
        raise_on: Iterable[str] | str | None = None,
        jsonl_path: str | None = None,
        max_findings: int = 1000,
    ):
        self.app = app
        self.engines = engines
        self.block_threshold_ms = float(block_threshold_ms)
        self.n_plus_one_threshold = int(n_plus_one_threshold)
        selected = _codes(select) if select is not None else set(DEFAULT_CODES)
        self.enabled = frozenset(selected - _codes(ignore))
        self.raise_on = frozenset(_codes(raise_on))
        self.store = FindingStore(cap=max_findings, jsonl_path=jsonl_path)
        self.active = False
        self._task_requests: "weakref.WeakKeyDictionary[asyncio.Task, RequestContext]" = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._middleware: Any = None
        self._hooks: Any = None
        self._awaited: Any = None
        self._watch: Any = None
        self._origin_threads: dict[int, tuple[asyncio.AbstractEventLoop, int]] = {}

    # -- public API ----------------------------------------------------------
    @property
    def findings(self) -> list[Finding]:
        return list(self.store.items)

    def reset(self) -> None:
        self.store.clear()

    def report_text(self) -> str:
        return "\n".join(f.format(with_stack=True) + (f"\n    seen {f.count} times" if f.count > 1 else "")
                         for f in self.store.items)

    def uninstall(self) -> None:
        if not self.active:
            return
        self.active = False
        if self._watch is not None:
            self._watch.stop()
        if self._awaited is not None:
            self._awaited.remove()
        if self._hooks is not None:
            self._hooks.remove()
        self._restore_origin_tracking()
        _remove_middleware(self.app, self._middleware)

    # -- wiring ----------------------------------------------------------------
    def _install(self) -> None:
        from starlette.middleware import Middleware

        from .awaited import UnawaitedHook
        from .middleware import SqlaguardMiddleware
        from .sqlhooks import SqlHooks
        from .watch import LoopWatch

        reset_error_log()
        self._hooks = SqlHooks(self, self.engines)
        self._hooks.install()
        if "SQR202" in self.enabled:
            self._awaited = UnawaitedHook(self)
            self._awaited.install()
        self._watch = LoopWatch(self)
        self._middleware = Middleware(SqlaguardMiddleware, monitor=self)
        # Outermost of the user middleware, so its request context covers everything inside.
        self.app.user_middleware.insert(0, self._middleware)
        self.app.middleware_stack = None  # rebuilt on the next call, with or without us
        self.active = True
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            self.on_loop_thread()

    def on_loop_thread(self) -> None:
        """Called from the loop thread (install, and every ASGI call): start per-loop machinery."""
        loop = asyncio.get_running_loop()
        tid = threading.get_ident()
        known = self._origin_threads.get(tid)
        if known is None or known[0] is not loop:
            # Origin tracking is per thread; it lets SQR202/SQR301 name the line that created a coroutine.
            previous = known[1] if known else sys.get_coroutine_origin_tracking_depth()
            if sys.get_coroutine_origin_tracking_depth() < _ORIGIN_DEPTH:
                sys.set_coroutine_origin_tracking_depth(_ORIGIN_DEPTH)
            self._origin_threads[tid] = (loop, previous)
        if self._watch is not None:
            self._watch.ensure(loop, tid)

    def _restore_origin_tracking(self) -> None:
        tid = threading.get_ident()
        for thread_id, (loop, previous) in list(self._origin_threads.items()):
            if thread_id == tid:
                sys.set_coroutine_origin_tracking_depth(previous)
            else:
                try:
                    loop.call_soon_threadsafe(sys.set_coroutine_origin_tracking_depth, previous)
                except RuntimeError:
                    pass  # that loop is closed; its thread no longer runs coroutines
        self._origin_threads.clear()

    # -- requests --------------------------------------------------------------
    def begin_request(self, scope: dict[str, Any]) -> RequestContext:
        ctx = RequestContext(scope=scope, method=scope.get("method"))
        task = asyncio.current_task()
        if task is not None:
            self._task_requests[task] = ctx
        return ctx

    def note_task(self, ctx: RequestContext, task: asyncio.Task | None) -> None:
        """Remember which request a task works for (a task the request spawned, e.g. under
        BaseHTTPMiddleware), so a stall in it can be attributed on Python < 3.12 too."""
        if task is not None and task not in self._task_requests:
            self._task_requests[task] = ctx

    def request_of_task(self, task: asyncio.Task | None) -> RequestContext | None:
        if task is None:
            return None
        ctx = self._task_requests.get(task)
        if ctx is None and hasattr(task, "get_context"):
            # Python 3.12+: a task spawned by the request (gather, create_task) carries its context.
            ctx = task.get_context().get(current_request)
        return ctx

    def route_of(self, ctx: RequestContext | None) -> str | None:
        if ctx is None:
            return None
        return route_template(ctx, self.app)

    def end_request(self, ctx: RequestContext) -> None:
        self.route_of(ctx)
        ctx.finished = True
        if self._hooks is None or "SQR303" not in self.enabled:
            return
        leaked = self._hooks.leaked(ctx)
        self._hooks.forget(ctx)
        if not leaked or ctx.disconnected or ctx.cancelled:
            # A request cut short by its client leaves its connection to be cleaned up by the
            # cancelled task: not a leak in the app's code.
            return
        for location, stack in leaked:
            if location is None:
                continue
            self.report(
                "SQR303",
                "a pool connection checked out during this request is still checked out after the request and its "
                "background tasks finished: a session or connection opened here was never closed; use "
                "`async with factory() as session:` or a yield dependency",
                ctx=ctx, location=location, stack=stack, details=f"{len(leaked)} connection(s) still checked out",
            )

    # -- findings --------------------------------------------------------------
    def report(
        self,
        code: str,
        message: str,
        *,
        ctx: RequestContext | None,
        location: str | None,
        stack: list,
        details: str | None = None,
        duration_ms: float | None = None,
        immediate: bool = False,
    ) -> Finding | None:
        if code not in self.enabled or not self.active:
            return None
        finding = Finding(
            code=code, name=NAMES.get(code, code), message=message,
            method=ctx.method if ctx else None, route=self.route_of(ctx),
            location=location, stack=list(stack), duration_ms=duration_ms,
            details=mask_url(details) if details else details,  # a driver's detail may carry a DSN
        )
        self.store.add(finding)
        if code in self.raise_on:
            error = SqlaguardError(finding)
            if immediate and code in _RAISE_IN_PLACE:
                raise error
            if ctx is not None:
                ctx.deferred_errors.append(error)  # the middleware raises it once the request is over
        return finding


def _remove_middleware(app: Any, entry: Any) -> None:
    if entry is None:
        return
    try:
        app.user_middleware.remove(entry)
    except ValueError:
        return
    app.middleware_stack = None


def _as_engine_list(engine: Any) -> list[Any]:
    engines = list(engine) if isinstance(engine, (list, tuple, set)) else [engine]
    for e in engines:
        if not hasattr(getattr(e, "sync_engine", e), "pool"):
            raise TypeError(f"install() needs an AsyncEngine (or a list of them), got {type(e).__name__}")
    return engines


def install(app: Any, engine: Any, **options: Any) -> Monitor:
    """Install sqlaguard's runtime checker on a Starlette/FastAPI app for the given engine(s)."""
    if not hasattr(app, "user_middleware"):
        raise TypeError("install() needs a Starlette or FastAPI application")
    monitor = Monitor(app, _as_engine_list(engine), **options)
    monitor._install()
    return monitor


__all__ = ["Monitor", "install"]
