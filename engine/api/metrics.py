"""`GET /metrics`: the engine's Prometheus metrics in the text format.

A scraper shows `Authorization: Bearer` with the API key or with ENGINE_METRICS_TOKEN (a token
that opens nothing else, for a Prometheus that should not hold the API key). With neither set, the
route follows the API's keyless rule: direct loopback clients only.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.api.common import engine_of
from engine.api.errors import error_response
from engine.api.openapi import operation
from engine.api.security import LOOPBACK_ONLY_MESSAGE, is_local_request
from engine.errors import EngineError, Unauthorized
from engine.observability.metrics import CONTENT_TYPE

METRICS_TOKEN_ENV = "ENGINE_METRICS_TOKEN"


def metrics_refusal(request: Request) -> Response | None:
    """None when the request may read the metrics, else the answer refusing it."""
    engine = engine_of(request)
    accepted = [f"Bearer {secret}".encode() for secret in
                (engine.settings.api_key, engine.settings.env.get(METRICS_TOKEN_ENV)) if secret]
    if not accepted:
        if is_local_request(request.scope):
            return None
        return error_response(EngineError(LOOPBACK_ONLY_MESSAGE, code="loopback_only", status=403))
    supplied = request.headers.get("authorization", "").encode("latin-1", "replace")
    # Every candidate is compared (no early exit), each in constant time.
    matches = [hmac.compare_digest(supplied, expected) for expected in accepted]
    if any(matches):
        return None
    return error_response(Unauthorized("missing or wrong token (Authorization: Bearer <key>)"),
                          headers={"WWW-Authenticate": "Bearer"})


@operation("Prometheus metrics (text format 0.0.4); the API key or ENGINE_METRICS_TOKEN",
           {200: ("The metrics", {"type": "string"})}, media_types={200: "text/plain"}, tags=["operations"])
async def metrics(request: Request) -> Response:
    refused = metrics_refusal(request)
    if refused is not None:
        return refused
    engine = engine_of(request)
    await engine.metrics.read_queue(engine.store, engine.clock())
    return Response(engine.metrics.render(), media_type=CONTENT_TYPE)


routes = [Route("/metrics", metrics, methods=["GET"])]
