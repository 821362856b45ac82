"""Every failure becomes a JSON answer `{"error": {"code", "message", "vendor"?}}`; never a
traceback, never a secret."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.errors import BadRequest, Conflict, EngineError, Unavailable, code_for_status
from engine.store.errors import (
    ConnectionConflict,
    InvalidCursor,
    StoreError,
    StoreUnavailable,
)

log = logging.getLogger("engine.api")

def error_response(error: EngineError, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """`{"error": error.to_dict()}` with the error's status (and `Retry-After` when it has one)."""
    headers = dict(headers or {})
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(error.retry_after + 0.999)))
    return JSONResponse({"error": error.to_dict()}, status_code=error.status, headers=headers)


async def engine_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EngineError)
    if exc.status >= 500:
        log.warning("request failed: %s %s -> %s", request.method, request.url.path, exc.code)
    return error_response(exc)


async def store_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, StoreUnavailable):
        return error_response(Unavailable("storage is temporarily unavailable; retry",
                                          code="store_unavailable", retry_after=5))
    if isinstance(exc, InvalidCursor):
        return error_response(BadRequest("the cursor is not one this API issued", code="invalid_cursor"))
    if isinstance(exc, ConnectionConflict):
        return error_response(Conflict(str(exc), code="vendor_account_in_use", vendor=exc.vendor))
    log.error("storage error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(EngineError("a storage error occurred", code="store_error"))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = code_for_status(exc.status_code)
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else code.replace("_", " ")
    return error_response(EngineError(message, code=code, status=exc.status_code),
                          headers=dict(exc.headers or {}))


EXCEPTION_HANDLERS = {
    EngineError: engine_error,
    StoreError: store_error,
    HTTPException: http_error,
}
