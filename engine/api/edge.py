"""The edge of every HTTP request, as one ASGI middleware: a trace id (the caller's
`X-Request-Id` when it is a sane token, else a new one) in the log context and echoed in the
response, and the last line of defence: an unexpected exception becomes a JSON 500 whose log line
names the exception type and the frames, never its message (which could quote a URL with a token).

One layer rather than two: every request and each of its response messages pass through it.
"""

from __future__ import annotations

import logging
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.errors import error_response
from engine.errors import EngineError
from engine.logs import is_trace_id, log_context, new_trace_id

log = logging.getLogger("engine.api")


class RequestEdge:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), "")
        trace_id = given if is_trace_id(given) else new_trace_id()
        trace_header = (b"x-request-id", trace_id.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, trace_header]}
            await send(message)

        with log_context(trace_id=trace_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:  # noqa: BLE001 -- turn anything into a clean 500
                frames = " <- ".join(
                    f"{frame.filename}:{frame.lineno} in {frame.name}"
                    for frame in reversed(traceback.extract_tb(exc.__traceback__)))
                log.error("unhandled %s on %s %s at %s", type(exc).__name__, scope.get("method"),
                          scope.get("path"), frames)
                if not started:
                    response = error_response(EngineError("an internal error occurred", code="internal_error"))
                    await response(scope, receive, send_with_id)
