"""SQLAlchemy event hooks: implicit loads (SQR401/402), shared sessions (SQR301), pool checkouts (SQR303)."""
from __future__ import annotations

import asyncio
import os
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from . import frames as fr
from .context import RequestContext, current_request
from .failopen import fail_open
from .findings import elide_sql

if TYPE_CHECKING:
    from .monitor import Monitor

_ATTRIBUTES_PY = os.path.join("orm", "attributes.py")
_SCALAR_LOADERS = ("load_scalar_attributes", "_load_scalar_attributes")


def _in_sqlalchemy_greenlet() -> bool:
    try:
        import greenlet
    except ImportError:
        return False
    return bool(getattr(greenlet.getcurrent(), "__sqlalchemy_greenlet_provider__", False))


def _current_greenlet() -> Any:
    import greenlet

    return greenlet.getcurrent()


def _current_task() -> asyncio.Task | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop in this thread (threadpool, sync code)
        return None


@dataclass(eq=False)
class _SessionUse:
    request_id: int | None
    route: str | None
    method: str | None
    greenlet: Any = None  # weakref to the greenlet running the session's current operation
    task: Any = None  # weakref to that operation's task


class SqlHooks:
    def __init__(self, monitor: "Monitor", engines: list[Any]):
        self.monitor = monitor
        self.sync_engines = [getattr(e, "sync_engine", e) for e in engines]
        self._sessions: "weakref.WeakKeyDictionary[Session, _SessionUse]" = weakref.WeakKeyDictionary()
        self._owners: dict[int, RequestContext] = {}  # id(pool connection record) -> request
        self._lock = threading.Lock()
        self._listeners: list[tuple[Any, str, Any]] = []

    # -- install / remove -------------------------------------------------
    def install(self) -> None:
        wanted = self.monitor.enabled
        if wanted & {"SQR401", "SQR402", "SQR301"}:
            self._listen(Session, "do_orm_execute", self.on_orm_execute)
        if "SQR301" in wanted:
            self._listen(Session, "after_begin", self.on_session_begin)
            self._listen(Session, "before_flush", self.on_session_flush)
        if "SQR303" in wanted:
            for engine in self.sync_engines:
                self._listen(engine.pool, "checkout", self.on_checkout)
                self._listen(engine.pool, "checkin", self.on_checkin)

    def _listen(self, target: Any, name: str, fn: Any) -> None:
        event.listen(target, name, fn)
        self._listeners.append((target, name, fn))

    def remove(self) -> None:
        for target, name, fn in reversed(self._listeners):
            if event.contains(target, name, fn):
                event.remove(target, name, fn)
        self._listeners.clear()

    def _engine_of(self, session: Session) -> Any:
        bind = session.bind
        if bind is None:
            try:
                bind = session.get_bind()
            except Exception:
                return None
        return getattr(bind, "engine", bind)

    def _ours(self, session: Session) -> Any:
        engine = self._engine_of(session)
        return engine if any(engine is e for e in self.sync_engines) else None

    # -- SQR401 / SQR402 ---------------------------------------------------
    @fail_open
    def on_orm_execute(self, state: Any) -> None:
        session = state.session
        engine = self._ours(session)
        if engine is None:
            return
        if "SQR301" in self.monitor.enabled:
            self._track_session(session)
        ctx = current_request.get()
        if ctx is None or not state.is_select:
            return  # load options (and so lazy loads) exist only for ORM SELECTs
        lazy_from = state.lazy_loaded_from
        if lazy_from is not None:
            path = state.loader_strategy_path
            prop = getattr(path, "prop", None)
            attribute = str(prop) if prop is not None else f"{lazy_from.class_.__name__}.?"
            self._implicit_load(ctx, state, engine, attribute, relationship=True)
        elif state.is_column_load and self._is_implicit_refresh(state):
            refresh_state = getattr(state.load_options, "_refresh_state", None)
            attribute = self._accessed_attribute(refresh_state) or self._expired_attribute(refresh_state)
            self._implicit_load(ctx, state, engine, attribute, relationship=False)

    @staticmethod
    def _is_implicit_refresh(state: Any) -> bool:
        """True for an expired/deferred attribute load, False for an explicit Session.refresh()."""
        user_refresh = getattr(state.load_options, "_is_user_refresh", None)
        if user_refresh is not None:
            return not user_refresh
        import sys

        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_name in _SCALAR_LOADERS and "sqlalchemy" in frame.f_code.co_filename:
                return True
            frame = frame.f_back
        return False

    @staticmethod
    def _accessed_attribute(state: Any) -> str | None:
        """Model.attribute whose read triggered this load: the outermost attribute __get__ on the stack."""
        import sys

        frame = sys._getframe(2)
        found = None
        while frame is not None:
            code = frame.f_code
            if code.co_name == "__get__" and code.co_filename.endswith(_ATTRIBUTES_PY):
                key = getattr(frame.f_locals.get("self"), "key", None)
                if isinstance(key, str):
                    found = key
            frame = frame.f_back
        if found is None or state is None:
            return None
        return f"{state.class_.__name__}.{found}"

    @staticmethod
    def _expired_attribute(state: Any) -> str:
        if state is None:
            return "?"
        name = state.class_.__name__
        keys = sorted(state.expired_attributes) or sorted(state.unloaded)
        if len(keys) == 1:
            return f"{name}.{keys[0]}"
        return f"{name}.({', '.join(keys[:6])}{', ...' if len(keys) > 6 else ''})"

    def _implicit_load(self, ctx: RequestContext, state: Any, engine: Any, attribute: str, relationship: bool) -> None:
        monitor = self.monitor
        stack = fr.full_stack(skip=3)
        user = fr.user_frames(stack)
        where = user[-1] if user else None
        will_raise = False
        report_401 = True
        if engine.dialect.is_async:
            if _in_sqlalchemy_greenlet():
                # Inside greenlet_spawn: the load succeeds. It is implicit only when the
                # user's own sync code runs in the greenlet (run_sync); loads started by
                # SQLAlchemy itself (awaitable_attrs, refresh(), cascades) are explicit.
                child_user = fr.user_frames(fr.greenlet_child_stack(skip=3))
                report_401 = bool(child_user)
                if child_user:
                    where = child_user[-1]
            else:
                will_raise = True
        location = fr.format_location(where)
        if where is None:
            return  # no application line to blame: stay silent rather than guess
        sql = self._sql(state, engine)
        if report_401 and "SQR401" in monitor.enabled:
            kind = "lazy load of relationship" if relationship else "load of expired/deferred attribute"
            if will_raise:
                attr_name = attribute.rsplit(".", 1)[-1]
                fix = (f"load it eagerly with selectinload({attribute}) in the query, or read it with "
                       f"`await obj.awaitable_attrs.{attr_name}`" if relationship else
                       "use expire_on_commit=False, `await session.refresh(obj)` before reading it, "
                       f"or `await obj.awaitable_attrs.{attr_name}`")
                message = (f"implicit {kind} {attribute} in async code raises MissingGreenlet "
                           f"(greenlet_spawn has not been called); {fix}")
            else:
                message = f"implicit {kind} {attribute} (a hidden query; load it eagerly instead)"
            monitor.report("SQR401", message, ctx=ctx, location=location, stack=user, details=f"{attribute}: {sql}",
                           immediate=True)
        if relationship and "SQR402" in monitor.enabled:
            key = (attribute, location)
            with ctx.lock:
                count = ctx.lazy_counts.get(key, 0) + 1
                ctx.lazy_counts[key] = count
            if count == monitor.n_plus_one_threshold:
                monitor.report(
                    "SQR402",
                    f"{attribute} lazy-loaded {count} times from the same line in one request (N+1 queries); "
                    f"load it with selectinload({attribute}) in the query that loads the rows",
                    ctx=ctx, location=location, stack=user, details=f"{attribute}: {sql}", immediate=True,
                )

    @staticmethod
    def _sql(state: Any, engine: Any) -> str:
        try:
            return elide_sql(str(state.statement.compile(dialect=engine.dialect)))
        except Exception:
            return "?"

    # -- SQR301 ------------------------------------------------------------
    @fail_open
    def on_session_begin(self, session: Session, transaction: Any, connection: Any) -> None:
        if self._ours(session) is not None:
            self._track_session(session)

    @fail_open
    def on_session_flush(self, session: Session, flush_context: Any, instances: Any) -> None:
        if self._ours(session) is not None:
            self._track_session(session)

    def _track_session(self, session: Session) -> None:
        ctx = current_request.get()
        task = _current_task()
        greenlet = _current_greenlet() if _in_sqlalchemy_greenlet() else None
        with self._lock:
            use = self._sessions.get(session)
            if use is None:
                use = _SessionUse(ctx.id if ctx else None, None, ctx.method if ctx else None)
                self._sessions[session] = use
                shared_with = None
                concurrent = False
            else:
                shared_with = None
                if ctx is not None and use.request_id is not None and use.request_id != ctx.id:
                    shared_with = (use.method, use.route)
                if ctx is not None:
                    use.request_id, use.method = ctx.id, ctx.method
                active = use.greenlet() if use.greenlet is not None else None
                active_task = use.task() if use.task is not None else None
                concurrent = (
                    greenlet is not None and active is not None and active is not greenlet
                    and not active.dead and active_task is not None and active_task is not task
                )
            if greenlet is not None:
                use.greenlet = weakref.ref(greenlet)
                use.task = weakref.ref(task) if task is not None else None
        if ctx is not None:
            use.route = self.monitor.route_of(ctx)
            self.monitor.note_task(ctx, task)
        if shared_with is None and not concurrent:
            return
        stack = fr.full_stack(skip=3)
        user = fr.user_frames(stack) or fr.coroutine_origin_user_frames()
        if not user:
            return
        if concurrent:
            message = ("one AsyncSession is used by two tasks at the same time (an AsyncSession is not safe for "
                       "concurrent use; on aiosqlite this corrupts silently); give each task its own session")
        else:
            method, route = shared_with  # type: ignore[misc]
            message = (f"one AsyncSession is used by two requests (also by {method} {route}); "
                       "create one session per request, e.g. from an async_sessionmaker in a yield dependency")
        self.monitor.report("SQR301", message, ctx=ctx, location=fr.format_location(user[-1]), stack=user,
                            details=f"session id {id(session):#x}", immediate=True)

    # -- SQR303 ------------------------------------------------------------
    @fail_open
    def on_checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        ctx = current_request.get()
        if ctx is None or ctx.finished:
            return
        user = fr.user_frames(fr.full_stack(skip=2)) or fr.coroutine_origin_user_frames()
        location = fr.format_location(user[-1]) if user else None
        self.monitor.note_task(ctx, _current_task())
        with self._lock:
            self._owners[id(record)] = ctx
        with ctx.lock:
            ctx.checkouts[id(record)] = (location, user)

    @fail_open
    def on_checkin(self, dbapi_connection: Any, record: Any) -> None:
        with self._lock:
            ctx = self._owners.pop(id(record), None)
        if ctx is not None:
            with ctx.lock:
                ctx.checkouts.pop(id(record), None)

    def leaked(self, ctx: RequestContext) -> list[tuple[str | None, list]]:
        with ctx.lock:
            return list(ctx.checkouts.values())

    def forget(self, ctx: RequestContext) -> None:
        """Stop tracking a finished request's connections (they are reported once, at its end)."""
        with ctx.lock:
            records = list(ctx.checkouts)
        with self._lock:
            for rid in records:
                if self._owners.get(rid) is ctx:
                    del self._owners[rid]
