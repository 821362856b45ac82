"""On-device sources over HTTP: a user's ingest tokens (API key) and `POST /v1/ingest/{vendor}`,
where the mobile app posts batches with one of them instead of the API key.

The ingest route answers like the webhook route: 401 for a missing, unknown, revoked or expired
token, 413 over the spec's body cap (refused while reading), 400 for a batch the spec does not
take, 429 with Retry-After over the user's rate, 503 when the store cannot write; every failure in
the API's one error shape.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.api.common import engine_of, read_json_object
from engine.api.openapi import OPTIONAL_TIME, TIME, Param, operation
from engine.api.webhooks import BadContentLength, BodyTooLarge, ClientGone, read_capped
from engine.auth.flows import check_user_id
from engine.errors import BadRequest, EngineError, NotFound
from engine.ingest.service import ingest_spec
from engine.instants import iso_utc
from engine.spec.compile_ingest import BATCH_SCHEMA
from engine.store.port import IngestToken

INGEST_PATH = "/v1/ingest/{vendor}"
USER = Param("user_id", "path", {"type": "string", "minLength": 1, "maxLength": 256}, "Your app's id for the user")
VENDOR = Param("vendor", "path", {"type": "string"}, "An on-device source's spec id (auth type ingest_token)")
TOKEN_SCHEMA = {
    "type": "object", "required": ["token_id", "vendor", "user_id", "created_at", "expires_at"],
    "properties": {"token_id": {"type": "string"}, "vendor": {"type": "string"}, "user_id": {"type": "string"},
                   "created_at": TIME, "expires_at": TIME, "revoked_at": OPTIONAL_TIME},
}
ISSUED_SCHEMA = {
    "type": "object", "required": ["ingest_token", "token_id", "expires_at", "ingest_url"],
    "properties": {"ingest_token": {"type": "string", "description": "Shown once: hand it to the user's app"},
                   "token_id": {"type": "string"}, "expires_at": TIME,
                   "ingest_url": {"type": "string", "description": "Where the app posts its batches"}},
}
SUMMARY_SCHEMA = {
    "type": "object", "required": ["records", "samples", "warnings", "deleted", "ignored"],
    "properties": {
        "records": {"type": "integer", "description": "Records of routed types in the batch"},
        "samples": {"type": "integer", "description": "Samples written: new, or replacing the same "
                    "record's earlier version (a repeated record replaces itself, never adds one)"},
        "warnings": {"type": "integer", "description": "Values or records the mapping dropped"},
        "deleted": {"type": "integer", "description": "Samples tombstoned by the batch's deletions"},
        "ignored": {"type": "object", "additionalProperties": {"type": "integer"},
                    "description": "Record types the spec does not map, with their counts"}},
}


def user_id_of(request: Request) -> str:
    return check_user_id(request.path_params["user_id"])


def describe_token(token: IngestToken) -> dict[str, Any]:
    return {"token_id": token.token_id, "vendor": token.vendor, "user_id": token.user_id,
            "created_at": iso_utc(token.created_at), "expires_at": iso_utc(token.expires_at),
            "revoked_at": iso_utc(token.revoked_at)}


async def issue_token(request: Request) -> JSONResponse:
    """`POST /v1/users/{user}/connections/{vendor}` for an on-device source (see connections)."""
    engine = engine_of(request)
    user_id = user_id_of(request)
    body = await read_json_object(request, optional=True)
    if set(body) or set(request.query_params):
        raise BadRequest("an on-device source takes no parameters when connecting", code="invalid_body")
    issued = await engine.ingest.issue(request.path_params["vendor"], user_id)
    return JSONResponse({
        "ingest_token": issued.token, "token_id": issued.record.token_id,
        "expires_at": iso_utc(issued.record.expires_at),
        "ingest_url": engine.settings.public_url + INGEST_PATH.format(vendor=issued.record.vendor),
    }, status_code=201)


@operation("A user's ingest tokens of an on-device source (never the tokens themselves)",
           {200: ("The tokens, revoked and expired ones included", {
               "type": "object", "required": ["tokens"],
               "properties": {"tokens": {"type": "array", "items": TOKEN_SCHEMA}}})},
           params=[USER, VENDOR], tags=["ingest"])
async def list_tokens(request: Request) -> JSONResponse:
    engine = engine_of(request)
    spec = ingest_spec(engine, request.path_params["vendor"])
    tokens = await engine.store.list_ingest_tokens(spec.id, user_id_of(request))
    return JSONResponse({"tokens": [describe_token(t) for t in tokens]})


@operation("Revoke one ingest token (the user's data stays; DELETE the connection to remove it too)",
           {200: ("Revoked", {"type": "object", "required": ["token_id", "revoked"],
                              "properties": {"token_id": {"type": "string"}, "revoked": {"const": True}}})},
           params=[USER, VENDOR, Param("token_id", "path", {"type": "string"})], tags=["ingest"])
async def revoke_token(request: Request) -> JSONResponse:
    engine = engine_of(request)
    spec = ingest_spec(engine, request.path_params["vendor"])
    token_id = request.path_params["token_id"]
    if not await engine.store.revoke_ingest_token(spec.id, user_id_of(request), token_id, now=engine.clock()):
        raise NotFound("no such active ingest token for this user", code="ingest_token_not_found", vendor=spec.id)
    return JSONResponse({"token_id": token_id, "revoked": True})


@operation("A batch of on-device samples from the user's app, stored for the token's user",
           {200: ("Stored (a repeated batch stores nothing new)", SUMMARY_SCHEMA)},
           params=[Param("vendor", "path", {"type": "string"}, "An on-device source's spec id")],
           body={"type": "object", "description": f"schemas/{BATCH_SCHEMA}: the variant the vendor's spec names"},
           public=True, tags=["ingest"],
           description="No API key: `Authorization: Bearer <the user's ingest token>` authenticates the "
                       "batch and alone says whose data it is; a user named in the body is never read.")
async def post_batch(request: Request) -> JSONResponse:
    engine = engine_of(request)
    service = engine.ingest
    spec = ingest_spec(engine, request.path_params["vendor"])
    assert spec.ingest is not None
    owner = await service.authenticate(spec, request.headers.get("authorization"))
    await service.admit(spec, owner)
    try:
        body = await read_capped(request.headers.get("content-length"), request.receive, spec.ingest.max_body_bytes)
    except BodyTooLarge:
        raise EngineError(f"the batch is larger than {spec.ingest.max_body_bytes} bytes; post smaller batches",
                          code="payload_too_large", status=413, vendor=spec.id) from None
    except BadContentLength:
        raise BadRequest("bad Content-Length", code="invalid_batch", vendor=spec.id) from None
    except ClientGone:
        raise BadRequest("the client went away", code="invalid_batch", vendor=spec.id) from None
    summary = await service.ingest(spec, owner, body)
    return JSONResponse(summary.to_dict())


public_routes = [Route(INGEST_PATH, post_batch, methods=["POST"])]
routes = [
    Route("/v1/users/{user_id}/connections/{vendor}/tokens", list_tokens, methods=["GET"]),
    Route("/v1/users/{user_id}/connections/{vendor}/tokens/{token_id}", revoke_token, methods=["DELETE"]),
]
