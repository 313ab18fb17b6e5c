"""The pure ASGI middleware: opens a request context around each HTTP request."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from .context import current_request
from .failopen import log_internal_error

if TYPE_CHECKING:
    from .monitor import Monitor

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SqlaguardMiddleware:
    def __init__(self, app: Any, monitor: "Monitor"):
        self.app = app
        self.monitor = monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        monitor = self.monitor
        if monitor.active:
            try:
                monitor.on_loop_thread()
            except Exception:
                log_internal_error("on_loop_thread")
        if scope["type"] != "http" or not monitor.active:
            await self.app(scope, receive, send)
            return
        try:
            ctx = monitor.begin_request(scope)
        except Exception:
            log_internal_error("begin_request")
            await self.app(scope, receive, send)
            return

        response_done = False

        async def watched_receive() -> Message:
            message = await receive()
            if message.get("type") == "http.disconnect" and not response_done:
                ctx.disconnected = True
            return message

        async def watched_send(message: Message) -> None:
            nonlocal response_done
            if message.get("type") == "http.response.body" and not message.get("more_body", False):
                response_done = True
            await send(message)

        token = current_request.set(ctx)
        app_failed = False
        try:
            await self.app(scope, watched_receive, watched_send)
        except asyncio.CancelledError:
            ctx.cancelled = True
            app_failed = True
            raise
        except BaseException:
            app_failed = True
            raise
        finally:
            current_request.reset(token)
            try:
                monitor.end_request(ctx)
            except Exception:
                log_internal_error("end_request")
        if ctx.deferred_errors and not app_failed:
            raise ctx.deferred_errors[0]
