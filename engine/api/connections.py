"""Connecting, listing and disconnecting an app user's vendor accounts (API key required)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.api import ingest
from engine.api.common import engine_of, optional_string, read_json_object
from engine.api.openapi import OPTIONAL_TIME, TIME, Param, nullable, operation
from engine.auth.flows import check_user_id, retired_message
from engine.errors import BadRequest, VendorRetired
from engine.instants import iso_utc
from engine.store.port import Connection


def user_id_of(request: Request) -> str:
    return check_user_id(request.path_params["user_id"])


def describe_connection(connection: Connection) -> dict[str, Any]:
    """What a client may see of a connection: never a token."""
    return {
        "vendor": connection.vendor,
        "user_id": connection.user_id,
        "vendor_user_id": connection.vendor_user_id,
        "status": connection.status,
        "scopes": list(connection.scopes),
        "token_expires_at": iso_utc(connection.token_expires_at),
        "last_webhook_at": iso_utc(connection.last_webhook_at),
        "last_pull_at": iso_utc(connection.last_pull_at),
        "last_error": connection.last_error,
        "created_at": iso_utc(connection.created_at),
        "updated_at": iso_utc(connection.updated_at),
    }


USER = Param("user_id", "path", {"type": "string", "minLength": 1, "maxLength": 256},
             "Your app's id for the user")
VENDOR = Param("vendor", "path", {"type": "string"}, "A loaded spec's id (GET /v1/vendors)")
CONNECTION_SCHEMA = {
    "type": "object",
    "required": ["vendor", "user_id", "status", "scopes"],
    "properties": {
        "vendor": {"type": "string"}, "user_id": {"type": "string"},
        "vendor_user_id": nullable({"type": "string"}),
        "status": {"type": "string", "description": "active, reauth_required or revoked"},
        "scopes": {"type": "array", "items": {"type": "string"}},
        "token_expires_at": OPTIONAL_TIME, "last_webhook_at": OPTIONAL_TIME, "last_pull_at": OPTIONAL_TIME,
        "last_error": nullable({"type": "string"}), "created_at": OPTIONAL_TIME, "updated_at": OPTIONAL_TIME,
    },
}


@operation("Start connecting a user: an authorization URL to send them to (an on-device source: an ingest token)",
           {201: ("A signed, single-use authorization URL; for an on-device source (auth type ingest_token), "
                  "the user's new ingest token", {"oneOf": [{
               "type": "object", "required": ["authorization_url", "expires_at"],
               "properties": {"authorization_url": {"type": "string"}, "expires_at": TIME}}, ingest.ISSUED_SCHEMA]})},
           params=[USER, VENDOR, Param("return_to", description="Where the browser goes after the callback "
                                       "(its origin must be on ENGINE_RETURN_TO_ALLOWLIST); or in the body"),
                   Param("tz", description="The user's IANA time zone as the app knows it (e.g. "
                                           "Europe/Berlin): kept for the connection when the vendor "
                                           "spec takes a zone from the app; or in the body")],
           body={"type": "object", "properties": {"return_to": {"type": "string", "minLength": 1, "maxLength": 2048},
                                                  "tz": {"type": "string", "minLength": 1, "maxLength": 64}}},
           body_required=False, tags=["connections"])
async def start_connection(request: Request) -> JSONResponse:
    engine = engine_of(request)
    user_id = user_id_of(request)
    vendor = request.path_params["vendor"]
    if engine.spec(vendor).ingest is not None:
        return await ingest.issue_token(request)
    if engine.spec(vendor).retired and vendor not in engine.oauth.allow_retired:  # the clearer reason
        raise VendorRetired(retired_message(engine.spec(vendor)), vendor=vendor)
    engine.configured_spec(vendor)
    body = await read_json_object(request, optional=True)
    unknown = set(request.query_params) - {"return_to", "tz"}
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(sorted(unknown))[:200]}", code="invalid_query")
    # `return_to` may come in the body or the query (not both, which would be ambiguous).
    return_to = optional_string(body, "return_to")
    if "return_to" in request.query_params:
        if return_to is not None:
            raise BadRequest("give return_to in the body or the query, not both", code="invalid_body")
        return_to = optional_string(dict(request.query_params), "return_to")
    tz = optional_string(body, "tz")
    if "tz" in request.query_params:
        if tz is not None:
            raise BadRequest("give tz in the body or the query, not both", code="invalid_body")
        tz = optional_string(dict(request.query_params), "tz")
    authorization = await engine.oauth.authorization_url(vendor, user_id, return_to=return_to, tz=tz)
    return JSONResponse(
        {"authorization_url": authorization.url, "expires_at": iso_utc(authorization.expires_at)},
        status_code=201,
    )


@operation("A user's connections (never a token)",
           {200: ("The connections", {"type": "object", "required": ["connections"],
                                      "properties": {"connections": {"type": "array", "items": CONNECTION_SCHEMA}}})},
           params=[USER], tags=["connections"])
async def list_connections(request: Request) -> JSONResponse:
    engine = engine_of(request)
    connections = await engine.store.list_connections(user_id=user_id_of(request))
    return JSONResponse({"connections": [describe_connection(c) for c in connections]})


@operation("Disconnect: revoke at the vendor where the spec can, purge the tokens",
           {200: ("Disconnected", {"type": "object", "required": ["vendor", "user_id", "status"], "properties": {
               "vendor": {"type": "string"}, "user_id": {"type": "string"}, "status": {"const": "revoked"},
               "revoked_at_vendor": {"type": "boolean"}, "errors": {"type": "array", "items": {"type": "string"}}}})},
           params=[USER, VENDOR], tags=["connections"])
async def delete_connection(request: Request) -> JSONResponse:
    engine = engine_of(request)
    user_id = user_id_of(request)
    result = await engine.oauth.disconnect(request.path_params["vendor"], user_id)
    return JSONResponse({
        "vendor": result.vendor,
        "user_id": result.user_id,
        "status": "revoked",
        "revoked_at_vendor": result.revoked,
        "errors": list(result.errors),
    })


routes = [
    Route("/v1/users/{user_id}/connections", list_connections, methods=["GET"]),
    Route("/v1/users/{user_id}/connections/{vendor}", start_connection, methods=["POST"]),
    Route("/v1/users/{user_id}/connections/{vendor}", delete_connection, methods=["DELETE"]),
]
