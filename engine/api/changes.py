"""The pull alternative to webhooks (API key required): `GET /v1/changes?cursor=&limit=&types=&user_id=`
lists the same event documents webhooks carry, in feed order, durably. `next_cursor` is where to
resume: keep it, and ask again with it (an empty page keeps the cursor you gave)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.api.common import engine_of, page_limit
from engine.api.openapi import Param, operation
from engine.errors import BadRequest
from engine.store.outbox_records import EVENT_TYPES

DEFAULT_PAGE = 100
MAX_PAGE = 1000
_KNOWN = {"cursor", "limit", "types", "user_id"}


@operation("The changes feed: the same event documents webhooks carry, in order, resumable",
           {200: ("A page", {"type": "object", "required": ["data", "next_cursor", "has_more"], "properties": {
               "data": {"type": "array", "items": {"type": "object"}}, "next_cursor": {"type": "string"},
               "has_more": {"type": "boolean"}}})},
           params=[Param("cursor", description="The previous page's next_cursor (0: from the start)"),
                   Param("limit", schema={"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
                   Param("types", description="Event types, comma-separated"), Param("user_id")],
           tags=["changes"])
async def list_changes(request: Request) -> JSONResponse:
    query = request.query_params
    unknown = set(query) - _KNOWN
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(sorted(unknown))[:200]}", code="invalid_query")
    cursor = query.get("cursor") or "0"
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
        raise BadRequest("the cursor is not one this API issued", code="invalid_cursor")
    limit = page_limit(query.get("limit"), default=DEFAULT_PAGE, maximum=MAX_PAGE)
    types = [t for t in (query.get("types") or "").split(",") if t]
    unknown_types = [t for t in types if t not in EVENT_TYPES]
    if unknown_types:
        raise BadRequest(f"unknown event type {unknown_types[0][:64]!r}", code="invalid_query")
    user_id = query.get("user_id")
    if user_id is not None and not 0 < len(user_id) <= 256:
        raise BadRequest("user_id must be 1 to 256 characters", code="invalid_query")
    engine = engine_of(request)
    if await engine.store.outbox_waiting():  # the feed does not wait for a delivery loop to run
        await engine.store.dispatch_outbox()
    events = await engine.store.list_changes(after_seq=int(cursor), limit=limit, event_types=types or None,
                                             user_id=user_id)
    renderer = engine.outbound.renderer
    last = events[-1].seq if events else int(cursor)
    return JSONResponse({"data": [renderer.document(event) for event in events],
                         "next_cursor": str(last), "has_more": len(events) == limit})


routes = [Route("/v1/changes", list_changes, methods=["GET"])]
