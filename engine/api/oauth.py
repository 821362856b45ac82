"""The OAuth callback (no API key: the vendor sends the user's browser here).

`GET` is where the vendor redirects; `POST` with JSON `{code, state}` serves apps whose redirect
lands in a mobile app. The browser goes back to `return_to` only when its origin is allow-listed;
otherwise, and always for `POST`, the answer is JSON.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from engine.api.common import engine_of, read_json_object, required_string
from engine.api.openapi import Param, operation
from engine.auth.flows import Connected
from engine.auth.return_to import with_query
from engine.errors import BadRequest, EngineError, OAuthError

_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def _connected_body(result: Connected) -> dict[str, object]:
    connection = result.connection
    return {
        "status": "connected",
        "vendor": connection.vendor,
        "user_id": connection.user_id,
        "vendor_user_id": connection.vendor_user_id,
    }


CONNECTED_SCHEMA = {"type": "object", "required": ["status", "vendor", "user_id"], "properties": {
    "status": {"const": "connected"}, "vendor": {"type": "string"}, "user_id": {"type": "string"},
    "vendor_user_id": {"type": ["string", "null"]}, "return_to": {"type": "string"}}}
CALLBACK_VENDOR = Param("vendor", "path", {"type": "string"})


@operation("Where the vendor sends the user's browser back",
           {200: ("Connected (no allow-listed return_to)", CONNECTED_SCHEMA),
            302: ("Back to the allow-listed return_to, with status, vendor and error in its query", None)},
           params=[CALLBACK_VENDOR, Param("state", description="The signed state of the authorization URL"),
                   Param("code", description="The vendor's authorization code"),
                   Param("error", description="The vendor's error, when consent failed")],
           public=True, tags=["connections"])
async def callback_get(request: Request) -> Response:
    engine = engine_of(request)
    vendor = request.path_params["vendor"]
    engine.configured_spec(vendor)
    query = request.query_params
    state = query.get("state")
    if not state:
        raise OAuthError("the callback has no state parameter", code="invalid_state", vendor=vendor)
    pending = await engine.oauth.take_state(vendor, state)
    return_to = engine.oauth.allowed_return_to(pending)
    if pending.return_to and return_to is None:
        raise BadRequest("return_to is not on the allow-list of return origins",
                         code="return_to_not_allowed", vendor=vendor)
    try:
        vendor_error = query.get("error")
        if vendor_error:
            code = vendor_error if _ERROR_CODE.match(vendor_error) else "authorization_failed"
            raise OAuthError(f"the vendor reported an authorization error: {code}", code=code, vendor=vendor)
        code_param = query.get("code")
        if not code_param:
            raise OAuthError("the callback has no code parameter", code="invalid_code", vendor=vendor)
        result = await engine.oauth.complete_with(vendor, pending, code=code_param)
    except EngineError as error:
        if return_to is None:
            raise
        return RedirectResponse(
            with_query(return_to, {"status": "error", "vendor": vendor, "error": error.code}), status_code=302
        )
    if return_to is not None:
        return RedirectResponse(with_query(return_to, {"status": "connected", "vendor": vendor}), status_code=302)
    return JSONResponse(_connected_body(result))


@operation("Complete a connection from a mobile app that received the redirect",
           {200: ("Connected", CONNECTED_SCHEMA)}, params=[CALLBACK_VENDOR],
           body={"type": "object", "required": ["code", "state"], "properties": {
               "code": {"type": "string", "minLength": 1, "maxLength": 4096},
               "state": {"type": "string", "minLength": 1, "maxLength": 4096}}},
           public=True, tags=["connections"])
async def callback_post(request: Request) -> Response:
    engine = engine_of(request)
    vendor = request.path_params["vendor"]
    engine.configured_spec(vendor)
    body = await read_json_object(request)
    code = required_string(body, "code")
    state = required_string(body, "state")
    result = await engine.oauth.complete(vendor, code=code, state=state)
    payload = _connected_body(result)
    if result.return_to:
        payload["return_to"] = result.return_to
    return JSONResponse(payload)


routes = [
    Route("/v1/oauth/{vendor}/callback", callback_get, methods=["GET"]),
    Route("/v1/oauth/{vendor}/callback", callback_post, methods=["POST"]),
]
