"""Every failure becomes a JSON answer `{"error": {"code", "message", "vendor"?}}`; never a
traceback, never a secret."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.errors import EngineError
from engine.store.errors import (
    ConnectionConflict,
    InvalidCursor,
    StoreError,
    StoreUnavailable,
)

log = logging.getLogger("engine.api")

_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "unprocessable", 429: "rate_limited",
    503: "unavailable",
}


def error_response(
    status: int, code: str, message: str, *, vendor: str | None = None,
    retry_after: float | None = None, headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if vendor:
        body["vendor"] = vendor
    headers = dict(headers or {})
    if retry_after is not None:
        body["retry_after"] = retry_after
        headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    return JSONResponse({"error": body}, status_code=status, headers=headers)


async def engine_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EngineError)
    if exc.status >= 500:
        log.warning("request failed: %s %s -> %s", request.method, request.url.path, exc.code)
    return error_response(exc.status, exc.code, exc.message, vendor=exc.vendor, retry_after=exc.retry_after)


async def store_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, StoreUnavailable):
        return error_response(503, "store_unavailable", "storage is temporarily unavailable; retry",
                              retry_after=5)
    if isinstance(exc, InvalidCursor):
        return error_response(400, "invalid_cursor", "the cursor is not one this API issued")
    if isinstance(exc, ConnectionConflict):
        return error_response(409, "vendor_account_in_use", str(exc), vendor=exc.vendor)
    log.error("storage error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(500, "store_error", "a storage error occurred")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else code.replace("_", " ")
    return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}))


EXCEPTION_HANDLERS = {
    EngineError: engine_error,
    StoreError: store_error,
    HTTPException: http_error,
}


class CatchAllMiddleware:
    """The last line of defence: an unexpected exception becomes a JSON 500. The log line names
    the exception type and the frames, not its message (which could quote a URL with a token)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 -- turn anything into a clean 500
            frames = " <- ".join(
                f"{frame.filename}:{frame.lineno} in {frame.name}"
                for frame in reversed(traceback.extract_tb(exc.__traceback__)))
            log.error("unhandled %s on %s %s at %s", type(exc).__name__, scope.get("method"),
                      scope.get("path"), frames)
            if not started:
                response = error_response(500, "internal_error", "an internal error occurred")
                await response(scope, receive, send)
