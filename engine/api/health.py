"""Liveness and readiness probes (no API key)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.api.common import engine_of
from engine.api.errors import error_response
from engine.api.openapi import operation
from engine.errors import Unavailable
from engine.store.errors import StoreError


@operation("Liveness", {200: ("Alive", {"type": "object", "properties": {"status": {"const": "ok"}}})},
           public=True, tags=["probes"])
async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


@operation("Readiness: the store answers",
           {200: ("Ready", {"type": "object", "properties": {"status": {"const": "ready"}}}),
            503: ("The store is unreachable", {"$ref": "#/components/schemas/Error"})},
           public=True, tags=["probes"])
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
