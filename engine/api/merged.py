"""`GET /v1/users/{user_id}/samples?view=merged`: the merged view's pages and export, in the
samples route's shapes (engine.merge); `/v1/users/{user_id}/merge-priorities`: a user's own
source priorities (GET, PUT, DELETE)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from engine.api.common import engine_of, read_json_object
from engine.api.connections import USER, user_id_of
from engine.api.openapi import operation
from engine.engine import Engine
from engine.errors import BadRequest
from engine.merge.rules import ANY_TYPE
from engine.spec.catalogue import CATALOGUE

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


# --------------------------------------------------------------------------- a user's priorities

SOURCE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_SOURCES = 32
PRIORITIES_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["user_id", "priorities", "effective"],
    "properties": {
        "user_id": {"type": "string"},
        "priorities": {"type": "object", "description": "The user's own lists (type or `*`)",
                       "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "effective": {"type": "object", "description": "The list in force for each sample type",
                      "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
}


def _priorities_body(engine: Engine, user_id: str, own: dict[str, list[str]]) -> dict[str, Any]:
    rules = engine.merged.rules
    return {"user_id": user_id, "priorities": own,
            "effective": {t: list(rules.priority(t, own)) for t in sorted(CATALOGUE.types)}}


@operation("A user's source priorities for the merged view, and the lists in force",
           {200: ("The user's lists and the effective ones", PRIORITIES_SCHEMA)}, params=[USER], tags=["samples"])
async def get_priorities(request: Request) -> JSONResponse:
    engine = engine_of(request)
    user_id = user_id_of(request)
    return JSONResponse(_priorities_body(engine, user_id, await engine.store.merge_priorities(user_id)))


@operation("Set a user's source priorities: each named sample type (or `*`) gets the list given, "
           "highest first; an empty list drops the type's list",
           {200: ("The user's lists and the effective ones", PRIORITIES_SCHEMA)}, params=[USER],
           body={"type": "object", "maxProperties": 64, "additionalProperties": {
               "type": "array", "maxItems": MAX_SOURCES, "items": {"type": "string", "pattern": SOURCE.pattern}}},
           tags=["samples"])
async def put_priorities(request: Request) -> JSONResponse:
    engine = engine_of(request)
    user_id = user_id_of(request)
    body = await read_json_object(request)
    if len(body) > 64:
        raise BadRequest("at most 64 sample types", code="invalid_body")
    for sample_type, sources in body.items():
        if sample_type != ANY_TYPE and CATALOGUE.sample_type(sample_type) is None:
            raise BadRequest(f"unknown sample type {sample_type[:64]!r} (or `*`)", code="invalid_body")
        if (not isinstance(sources, list) or len(sources) > MAX_SOURCES
                or not all(isinstance(s, str) and SOURCE.match(s) for s in sources)
                or len(set(sources)) != len(sources)):
            raise BadRequest(f"{sample_type}: a list of at most {MAX_SOURCES} distinct source ids",
                             code="invalid_body")
    for sample_type, sources in body.items():
        if sources:
            await engine.store.set_merge_priority(user_id, sample_type, sources)
        else:
            await engine.store.clear_merge_priority(user_id, sample_type)
    return JSONResponse(_priorities_body(engine, user_id, await engine.store.merge_priorities(user_id)))


@operation("Drop a user's source priorities: the deployment's rules apply again",
           {200: ("The effective lists", PRIORITIES_SCHEMA)}, params=[USER], tags=["samples"])
async def delete_priorities(request: Request) -> JSONResponse:
    engine = engine_of(request)
    user_id = user_id_of(request)
    await engine.store.clear_merge_priority(user_id)
    return JSONResponse(_priorities_body(engine, user_id, {}))


routes = [
    Route("/v1/users/{user_id}/merge-priorities", get_priorities, methods=["GET"]),
    Route("/v1/users/{user_id}/merge-priorities", put_priorities, methods=["PUT"]),
    Route("/v1/users/{user_id}/merge-priorities", delete_priorities, methods=["DELETE"]),
]
