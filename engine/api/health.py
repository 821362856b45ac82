"""Liveness and readiness probes (no API key)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.api.common import engine_of
from engine.api.errors import error_response
from engine.errors import Unavailable
from engine.store.errors import StoreError


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    try:
        await engine_of(request).store.ping()
    except (StoreError, RuntimeError):
        return error_response(Unavailable("the store is not reachable", code="store_unavailable", retry_after=5))
    return JSONResponse({"status": "ready"})


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
