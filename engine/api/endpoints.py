"""The customer's webhook endpoints (API key required). A secret is in the answer once: when the
endpoint is created and when it is rotated.

- `POST /v1/endpoints` `{url, event_types?, include_remap?, description?}` → 201 with `secret`
- `GET /v1/endpoints`, `GET /v1/endpoints/{id}` (with delivery counts), `PATCH …/{id}`
  (`status: active` resumes a paused endpoint), `DELETE …/{id}`
- `POST /v1/endpoints/{id}/rotate-secret` `{overlap_s?}` → the new secret; the old one keeps
  signing alongside for the overlap (default a day)
- `POST /v1/endpoints/{id}/replay` `{since, until?}` or `{event_id}` → deliveries queued again
- `GET /v1/endpoints/{id}/deliveries?state=`
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.api.common import engine_of, read_json_object
from engine.api.data import parse_instant
from engine.api.openapi import Param, Schema, nullable, operation
from engine.errors import BadRequest
from engine.outbound.endpoints import InvalidEndpoint, describe, describe_delivery
from engine.store.outbox_records import DELIVERY_STATES

ID = Param("endpoint_id", "path", {"type": "string", "maxLength": 128}, "The endpoint's id (ep_…)")
ENDPOINT_SCHEMA: Schema = {"type": "object", "required": ["id", "url", "event_types", "status"], "properties": {
    "id": {"type": "string"}, "url": {"type": "string"}, "event_types": {"type": "array", "items": {"type": "string"}},
    "include_remap": {"type": "boolean"}, "description": nullable({"type": "string"}),
    "status": {"type": "string", "description": "active or paused"}, "paused_reason": nullable({"type": "string"}),
    "consecutive_failures": {"type": "integer"}, "failing_since": nullable({"type": "number"}),
    "secrets": {"type": "integer", "description": "how many secrets sign (more than one during a rotation)"},
    "deliveries": {"type": "object", "additionalProperties": {"type": "integer"}}}}
WITH_SECRET: Schema = {**ENDPOINT_SCHEMA, "required": [*ENDPOINT_SCHEMA["required"], "secret"], "properties": {
    **ENDPOINT_SCHEMA["properties"], "secret": {"type": "string", "description": "whsec_…, shown this once"},
    "warnings": {"type": "array", "items": {"type": "string"}}}}
ENDPOINT_BODY = {"type": "object", "properties": {
    "url": {"type": "string", "maxLength": 2048}, "event_types": {"type": "array", "items": {"type": "string"}},
    "include_remap": {"type": "boolean"}, "description": {"type": "string", "maxLength": 500},
    "status": {"type": "string", "enum": ["active", "paused"]}}}
TAGS = ["endpoints"]


def _id(request: Request) -> str:
    return str(request.path_params["endpoint_id"])[:128]


@operation("Register a webhook endpoint; its secret is in this answer only",
           {201: ("Registered", WITH_SECRET)}, body={**ENDPOINT_BODY, "required": ["url"]}, tags=TAGS)
async def create_endpoint(request: Request) -> JSONResponse:
    outbound = engine_of(request).outbound
    endpoint, secret, warnings = await outbound.endpoints.create(await read_json_object(request))
    return JSONResponse({**describe(endpoint), "secret": secret, "warnings": warnings}, status_code=201)


@operation("Your webhook endpoints (never a secret)", {200: ("The endpoints", {
    "type": "object", "properties": {"endpoints": {"type": "array", "items": ENDPOINT_SCHEMA}}})}, tags=TAGS)
async def list_endpoints(request: Request) -> JSONResponse:
    endpoints = await engine_of(request).store.list_endpoints()
    return JSONResponse({"endpoints": [describe(endpoint) for endpoint in endpoints]})


@operation("One endpoint, with its delivery counts", {200: ("The endpoint", ENDPOINT_SCHEMA)},
           params=[ID], tags=TAGS)
async def get_endpoint(request: Request) -> JSONResponse:
    return JSONResponse(await engine_of(request).outbound.endpoints.get(_id(request)))


@operation("Change an endpoint; status active resumes a paused one", {200: ("Changed", ENDPOINT_SCHEMA)},
           params=[ID], body=ENDPOINT_BODY, tags=TAGS)
async def update_endpoint(request: Request) -> JSONResponse:
    outbound = engine_of(request).outbound
    endpoint, warnings = await outbound.endpoints.update(_id(request), await read_json_object(request))
    outbound.deliverer.wake()
    return JSONResponse({**describe(endpoint), "warnings": warnings})


@operation("Remove an endpoint and its pending deliveries", {200: ("Removed", {"type": "object"})},
           params=[ID], tags=TAGS)
async def delete_endpoint(request: Request) -> JSONResponse:
    await engine_of(request).outbound.endpoints.delete(_id(request))
    return JSONResponse({"id": _id(request), "deleted": True})


@operation("A new secret (shown once); the old one keeps signing for overlap_s", {200: ("Rotated", WITH_SECRET)},
           params=[ID], body={"type": "object", "properties": {"overlap_s": {"type": "number"}}},
           body_required=False, tags=TAGS)
async def rotate_secret(request: Request) -> JSONResponse:
    body = await read_json_object(request, optional=True)
    endpoint, secret = await engine_of(request).outbound.endpoints.rotate(_id(request), body.get("overlap_s"))
    return JSONResponse({**describe(endpoint), "secret": secret})


@operation("Deliver again: the events of a time range, or one event", {202: ("Queued", {
    "type": "object", "properties": {"id": {"type": "string"}, "queued": {"type": "integer"}}})},
           params=[ID], body={"type": "object", "properties": {"since": {"type": "string"}, "until": {"type": "string"},
                                                               "event_id": {"type": "string"}}}, tags=TAGS)
async def replay(request: Request) -> JSONResponse:
    body = await read_json_object(request)
    event_id = body.get("event_id")
    if event_id is not None and (not isinstance(event_id, str) or len(event_id) > 128):
        raise InvalidEndpoint("event_id", "must be an event id")
    since = parse_instant(body["since"], "since").timestamp() if body.get("since") is not None else None
    until = parse_instant(body["until"], "until").timestamp() if body.get("until") is not None else None
    outbound = engine_of(request).outbound
    queued = await outbound.endpoints.replay(_id(request), since=since, until=until, event_id=event_id)
    outbound.deliverer.wake()
    return JSONResponse({"id": _id(request), "queued": queued}, status_code=202)


@operation("An endpoint's deliveries, oldest first", {200: ("Deliveries", {
    "type": "object", "properties": {"deliveries": {"type": "array", "items": {"type": "object"}}}})},
           params=[ID, Param("state", description="pending, sending, delivered or failed")], tags=TAGS)
async def list_deliveries(request: Request) -> JSONResponse:
    state = request.query_params.get("state")
    if state is not None and state not in DELIVERY_STATES:
        raise BadRequest(f"state must be one of {', '.join(DELIVERY_STATES)}", code="invalid_query")
    engine = engine_of(request)
    await engine.outbound.endpoints.get(_id(request))  # 404 for an unknown endpoint
    deliveries = await engine.store.list_deliveries(endpoint_id=_id(request), state=state, limit=500)
    return JSONResponse({"deliveries": [describe_delivery(d) for d in deliveries]})


routes = [
    Route("/v1/endpoints", create_endpoint, methods=["POST"]),
    Route("/v1/endpoints", list_endpoints, methods=["GET"]),
    Route("/v1/endpoints/{endpoint_id}", get_endpoint, methods=["GET"]),
    Route("/v1/endpoints/{endpoint_id}", update_endpoint, methods=["PATCH"]),
    Route("/v1/endpoints/{endpoint_id}", delete_endpoint, methods=["DELETE"]),
    Route("/v1/endpoints/{endpoint_id}/rotate-secret", rotate_secret, methods=["POST"]),
    Route("/v1/endpoints/{endpoint_id}/replay", replay, methods=["POST"]),
    Route("/v1/endpoints/{endpoint_id}/deliveries", list_deliveries, methods=["GET"]),
]
