"""`GET /v1/users/{user_id}/samples?view=merged`: the merged view's pages and export, in the
samples route's shapes (engine.merge)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.responses import JSONResponse, Response, StreamingResponse

from engine.engine import Engine
from engine.errors import BadRequest

VIEWS = ("plain", "merged")
EXPORT_PAGE = 1000
MERGE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["source", "kind", "stands_for", "linked"],
    "description": "With view=merged: where the sample came from and what it stands for",
    "properties": {
        "source": {"type": "string"},
        "kind": {"enum": ["additive", "timeline", "event", "bucket", "measurement", "keep"]},
        "stands_for": {"type": "array", "items": {"type": "object"}},
        "linked": {"type": "array", "items": {"type": "object", "properties": {
            "reason": {"enum": ["duplicate", "overlap", "covered", "bucket"]},
            "score": {"type": "number"}}}},
    },
}


def view_of(query: Mapping[str, str]) -> str:
    view = query.get("view", "plain")
    if view not in VIEWS:
        raise BadRequest("view must be plain or merged", code="invalid_query")
    if view == "merged" and query.get("include_deleted", "false").lower() in ("true", "1"):
        raise BadRequest("the merged view holds no tombstones: include_deleted needs view=plain",
                         code="invalid_query")
    return view


async def merged_samples(
    engine: Engine, user_id: str, options: dict[str, Any], *, ndjson: bool, limit: int | None,
    cursor: str | None,
) -> Response:
    """A page of the merged view, or (ndjson) all of it, `limit` capping the export."""
    merged = engine.merged
    read = {key: options[key] for key in ("sample_types", "source", "since", "until")}
    if not ndjson:
        page = await merged.page(user_id, limit=limit or 100, cursor=cursor, **read)
        return JSONResponse({"samples": [m.document() for m in page.samples], "next_cursor": page.next_cursor})
    first = await merged.page(user_id, limit=min(EXPORT_PAGE, limit or EXPORT_PAGE), cursor=cursor, **read)

    async def lines() -> AsyncIterator[bytes]:
        left, page = limit, first
        while True:
            for sample in page.samples:
                yield json.dumps(sample.document(), separators=(",", ":")).encode() + b"\n"
            if left is not None:
                left -= len(page.samples)
            if page.next_cursor is None or left == 0:
                return
            page = await merged.page(user_id, limit=min(EXPORT_PAGE, left or EXPORT_PAGE),
                                     cursor=page.next_cursor, **read)

    return StreamingResponse(lines(), media_type="application/x-ndjson")
