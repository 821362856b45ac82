"""`GET /v1/reconnect/{vendor}?user=&expires=&sig=`: the link in connection health events. It is
signed by the engine and bound to the app user and an expiry (the retry horizon from the event),
so it needs no API key; opening it mints a fresh OAuth state and redirects to the vendor's
consent screen, so the link outlives any single state."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from engine.api.common import engine_of
from engine.api.openapi import Param, operation
from engine.errors import EngineError


@operation("Open a reconnect link from a connection health event: a fresh authorization at the vendor",
           {302: ("To the vendor's consent screen", None)},
           params=[Param("user", required=True), Param("expires", required=True), Param("sig", required=True)],
           public=True, tags=["connections"])
async def reconnect(request: Request) -> RedirectResponse:
    engine = engine_of(request)
    vendor = str(request.path_params["vendor"])
    query = request.query_params
    user_id, expires, signature = query.get("user", ""), query.get("expires", ""), query.get("sig", "")
    if not engine.outbound.links.valid(vendor, user_id, expires, signature, engine.clock()):
        raise EngineError("this reconnect link is not valid or has expired; ask the app for a new one",
                          code="invalid_reconnect_link", status=403)
    authorization = await engine.oauth.authorization_url(vendor, user_id)
    return RedirectResponse(authorization.url, status_code=302)


routes = [Route("/v1/reconnect/{vendor}", reconnect, methods=["GET"])]
