"""Per-request state, reachable from any hook through a context variable.

asyncio copies the context into tasks created during the request (background tasks,
gather, create_task) and Starlette copies it into its threadpool, so every hook sees the
request it runs for.
"""
from __future__ import annotations

import contextvars
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)


@dataclass(eq=False)
class RequestContext:
    scope: dict[str, Any]
    method: str | None
    id: int = field(default_factory=lambda: next(_ids))
    route: str | None = None
    finished: bool = False
    disconnected: bool = False
    cancelled: bool = False
    # pool connection-record id -> (checkout location, stack)
    checkouts: dict[int, tuple[str | None, list]] = field(default_factory=dict)
    # (Model.attribute, location) -> number of lazy loads
    lazy_counts: dict[tuple[str, str | None], int] = field(default_factory=dict)
    # findings to raise once the request is over (raise_on for checks that cannot raise in place)
    deferred_errors: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


current_request: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "sqlaguard_request", default=None
)


def route_template(ctx: RequestContext, app: Any = None) -> str | None:
    """The matched route's template (`/users/{user_id}`), once routing has happened."""
    if ctx.route is not None:
        return ctx.route
    route = ctx.scope.get("route")
    path = getattr(route, "path", None) if route is not None else None
    if path is None and app is not None:
        path = _match_routes(app, ctx.scope)
    if path is not None:
        ctx.route = path
    return ctx.route


def _match_routes(app: Any, scope: dict[str, Any]) -> str | None:
    """Older Starlette does not put the route in the scope: match the router ourselves."""
    try:
        from starlette.routing import Match
    except ImportError:
        return None
    router = getattr(app, "router", None)
    for route in getattr(router, "routes", ()):
        try:
            match, _ = route.matches(scope)
        except Exception:
            continue
        if match == Match.FULL:
            return getattr(route, "path", None)
    return None
