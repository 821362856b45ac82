"""`GET /v1/vendors`: every loaded spec, configured or not, with what it can do."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.api.common import engine_of
from engine.api.openapi import nullable, operation
from engine.engine import Engine
from engine.spec.model import Spec


def describe_vendor(engine: Engine, spec: Spec) -> dict[str, Any]:
    webhooks = spec.webhooks
    return {
        "id": spec.id,
        "name": spec.name,
        "configured": spec.auth.configured,
        "redirect_uri": engine.redirect_uri(spec.id),
        "webhook_url": engine.webhook_url(spec.id) if webhooks is not None else None,
        "capabilities": {
            "scopes": list(spec.auth.scopes),
            "pkce": spec.auth.pkce or "none",
            "revoke": spec.auth.revoke is not None,
            "webhooks": webhooks is not None,
            "webhook_events": sorted(webhooks.routes) if webhooks is not None else [],
            "resources": sorted(spec.resources),
            "sample_types": sorted({m.type for r in spec.resources.values() for m in r.samples}),
            "polling": sorted(name for name, r in spec.resources.items() if r.poll_s),
        },
    }


VENDOR_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "configured", "redirect_uri", "webhook_url", "capabilities"],
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "configured": {"type": "boolean"},
        "redirect_uri": {"type": "string"}, "webhook_url": nullable({"type": "string"}),
        "capabilities": {"type": "object", "properties": {
            "scopes": {"type": "array", "items": {"type": "string"}},
            "pkce": {"type": "string"}, "revoke": {"type": "boolean"}, "webhooks": {"type": "boolean"},
            "webhook_events": {"type": "array", "items": {"type": "string"}},
            "resources": {"type": "array", "items": {"type": "string"}},
            "sample_types": {"type": "array", "items": {"type": "string"}},
            "polling": {"type": "array", "items": {"type": "string"}},
        }},
    },
}


@operation("Loaded vendor specs, configured or not, with what each can do",
           {200: ("The vendors", {"type": "object", "required": ["vendors"],
                                  "properties": {"vendors": {"type": "array", "items": VENDOR_SCHEMA}}})},
           tags=["vendors"])
async def list_vendors(request: Request) -> JSONResponse:
    engine = engine_of(request)
    return JSONResponse({"vendors": [describe_vendor(engine, spec) for _, spec in sorted(engine.specs.items())]})


routes = [Route("/v1/vendors", list_vendors, methods=["GET"])]
