"""Sync, read and delete: the data routes of the API (API key required).

- `POST /v1/users/{user_id}/connections/{vendor}/sync` `{since, until?, resources?}` → a sync id
- `GET /v1/syncs/{sync_id}` → progress
- `GET /v1/users/{user_id}/samples?type=&since=&until=&limit=&cursor=&format=ndjson`
- `DELETE /v1/users/{user_id}` → revoke every connection and delete everything held for the user
- `GET /v1/jobs?state=failed|dead`, `POST /v1/jobs/{job_id}/retry`
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from engine.api.common import CompactJSONResponse, engine_of, page_limit, read_json_object
from engine.api.connections import USER, VENDOR, user_id_of
from engine.api.merged import MERGE_SCHEMA, VIEWS, merged_samples, view_of
from engine.api.openapi import OPTIONAL_TIME, TIME, Param, nullable, operation
from engine.engine import Engine
from engine.errors import BadRequest, EngineError, NotFound
from engine.instants import iso_utc
from engine.mapping.sample_schema import PROVENANCE_SCHEMA
from engine.spec.catalogue import CATALOGUE
from engine.store.port import JOB_STATES, Job, StoredSample, Sync
from engine.store.sample_document import sample_document
from engine.worker.sync import seconds_left

log = logging.getLogger("engine.api")

MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_TYPES = 32


# Instants the API takes: from the Unix epoch to well before the end of the calendar, so whatever
# the engine adds to one (a window, a margin) or converts it to (epoch seconds, micros) stays a
# valid time.
MIN_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 1, 1, tzinfo=UTC)


def parse_instant(value: Any, name: str) -> datetime:
    """RFC 3339 with an offset, or a plain YYYY-MM-DD date (midnight UTC), between
    `MIN_INSTANT` and `MAX_INSTANT`; anything else is a 400 naming the field."""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise BadRequest(f"{name} must be an RFC 3339 time or a YYYY-MM-DD date", code="invalid_time")
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    except ValueError:
        raise BadRequest(f"{name} {text[:40]!r} is not an RFC 3339 time or a YYYY-MM-DD date",
                         code="invalid_time") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"{name} must carry a UTC offset (e.g. Z)", code="invalid_time")
    try:
        utc: datetime | None = parsed.astimezone(UTC)
    except (OverflowError, ValueError):  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        utc = None
    if utc is None or not MIN_INSTANT <= utc < MAX_INSTANT:
        raise BadRequest(f"{name} {text[:40]!r} is out of range: it must be from {iso_utc(MIN_INSTANT)} "
                         f"to before {iso_utc(MAX_INSTANT)}", code="invalid_time")
    return utc


def describe_sync(sync: Sync, eta_s: float | None) -> dict[str, Any]:
    state = "cancelled" if sync.cancelled_at is not None else "done" if sync.finished else "running"
    return {
        "sync_id": sync.sync_id,
        "vendor": sync.vendor,
        "user_id": sync.user_id,
        "state": state,
        "windows_total": sync.windows_total,
        "windows_done": min(sync.windows_done, sync.windows_total),
        "windows_cancelled": sync.windows_cancelled,
        "cancelled_at": None if sync.cancelled_at is None else iso_utc(sync.cancelled_at),
        "eta_s": None if eta_s is None else round(eta_s, 1),
        "records": sync.records,
        "errors": sync.errors,
        "last_error": sync.last_error,
        "clipped": sync.clipped_note is not None,
        "clipped_note": sync.clipped_note,
        "detail": dict(sync.detail),
        "created_at": iso_utc(sync.created_at),
        "updated_at": iso_utc(sync.updated_at),
    }


def describe_job(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "kind": job.kind,
        "state": job.state,
        "vendor": job.vendor,
        "user_id": job.user_id,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "last_error": job.last_error,
        "run_at": iso_utc(job.run_at),
        "created_at": iso_utc(job.created_at),
        "updated_at": iso_utc(job.updated_at),
        "payload": dict(job.payload),
    }


# --------------------------------------------------------------------------- sync

SYNC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["sync_id", "vendor", "user_id", "state", "windows_total", "windows_done"],
    "properties": {
        "sync_id": {"type": "string"}, "vendor": {"type": "string"}, "user_id": {"type": "string"},
        "state": {"type": "string", "description": "running until every window is done"},
        "windows_total": {"type": "integer"}, "windows_done": {"type": "integer"},
        "records": {"type": "integer"}, "errors": {"type": "integer"},
        "last_error": nullable({"type": "string"}), "clipped": {"type": "boolean"},
        "clipped_note": nullable({"type": "string"}), "detail": {"type": "object"},
        "created_at": TIME, "updated_at": TIME,
    },
}
JOB_SCHEMA = {
    "type": "object",
    "required": ["job_id", "kind", "state", "attempts", "max_attempts"],
    "properties": {
        "job_id": {"type": "string"}, "kind": {"type": "string"}, "state": {"enum": list(JOB_STATES)},
        "vendor": nullable({"type": "string"}), "user_id": nullable({"type": "string"}),
        "attempts": {"type": "integer"}, "max_attempts": {"type": "integer"},
        "last_error": nullable({"type": "string"}), "run_at": OPTIONAL_TIME, "created_at": OPTIONAL_TIME,
        "updated_at": OPTIONAL_TIME, "payload": {"type": "object"},
    },
}
INSTANT = {"type": "string", "description": "RFC 3339 with an offset, or YYYY-MM-DD (midnight UTC)"}
SYNC_ID = Param("sync_id", "path", {"type": "string"})


@operation("Backfill a range of a connection's history (clipped to the vendor's horizon)",
           {202: ("Planned: one job per resource window", {**SYNC_SCHEMA, "properties": {
               **SYNC_SCHEMA["properties"], "until": TIME,
               "resources": {"type": "object", "additionalProperties": {
                   "type": "object", "properties": {"windows": {"type": "integer"}, "since": TIME}}}}})},
           params=[USER, VENDOR],
           body={"type": "object", "required": ["since"], "properties": {
               "since": INSTANT, "until": {**INSTANT, "description": "default: now"},
               "resources": {"type": "array", "minItems": 1, "maxItems": 64,
                             "items": {"type": "string", "minLength": 1},
                             "description": "default: every resource of the spec"}}},
           tags=["syncs"])
async def start_sync(request: Request) -> JSONResponse:
    engine = engine_of(request)
    user_id = user_id_of(request)
    vendor = request.path_params["vendor"]
    engine.spec(vendor)  # 404 for an unknown vendor before reading the body
    body = await read_json_object(request)
    since = parse_instant(body.get("since"), "since")
    until = parse_instant(body["until"], "until") if body.get("until") is not None else None
    resources = body.get("resources")
    if resources is not None and (
        not isinstance(resources, list) or not resources or len(resources) > 64
        or not all(isinstance(r, str) and r for r in resources)
    ):
        raise BadRequest("resources must be a non-empty list of resource names", code="invalid_body")
    plan = await engine.sync.plan(vendor, user_id, since=since, until=until, resources=resources)
    answer = _described(engine, plan.sync)
    answer["resources"] = {
        name: {"windows": count, "since": iso_utc(plan.since[name])}
        for name, count in plan.windows.items()
    }
    answer["until"] = iso_utc(plan.until)
    return JSONResponse(answer, status_code=202)


def _described(engine: Engine, sync: Sync) -> dict[str, Any]:
    spec = engine.specs.get(sync.vendor)
    return describe_sync(sync, seconds_left(sync, spec, engine.clock()))


@operation("A sync's progress", {200: ("Progress", SYNC_SCHEMA)}, params=[SYNC_ID], tags=["syncs"])
async def get_sync(request: Request) -> JSONResponse:
    engine = engine_of(request)
    sync = await engine.store.get_sync(request.path_params["sync_id"][:128])
    if sync is None:
        raise NotFound("no sync with this id", code="sync_not_found")
    return JSONResponse(_described(engine, sync))


@operation("Cancel a sync: its queued windows are dropped; a running one finishes; stored samples stay",
           {200: ("The sync as it stands", SYNC_SCHEMA)}, params=[SYNC_ID], tags=["syncs"])
async def cancel_sync(request: Request) -> JSONResponse:
    engine = engine_of(request)
    sync = await engine.sync.cancel(request.path_params["sync_id"][:128])
    return JSONResponse(_described(engine, sync))


# --------------------------------------------------------------------------- samples


def _types(request: Request) -> list[str] | None:
    raw = [part.strip() for value in request.query_params.getlist("type") for part in value.split(",")]
    types = [t for t in raw if t]
    if len(types) > MAX_TYPES:
        raise BadRequest(f"at most {MAX_TYPES} sample types", code="invalid_query")
    unknown = sorted({t for t in types if CATALOGUE.sample_type(t) is None})
    if unknown:
        raise BadRequest(f"unknown sample type(s) {', '.join(unknown)[:200]}; known: "
                         f"{', '.join(sorted(CATALOGUE.types))}", code="invalid_query")
    return types or None


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise BadRequest(f"{name} must be true or false", code="invalid_query")
    return value in ("true", "1")


def sample_body(sample: StoredSample) -> dict[str, Any]:
    """The sample as outbound events carry it inline: one rendering for both."""
    body: dict[str, Any] = sample_document(sample.payload, sample.deleted, sample.provenance)
    return body


SAMPLE_SCHEMA = {"type": "object", "required": ["sample_type", "source", "timestamp_utc", "deleted"],
                 "description": "One normalized sample (schemas/synheart-sample.schema.json)",
                 "properties": {"sample_type": {"type": "string"}, "source": {"type": "string"},
                                "timestamp_utc": {"type": "string"}, "deleted": {"type": "boolean"},
                                "provenance": PROVENANCE_SCHEMA, "merge": MERGE_SCHEMA}}


@operation("A user's normalized samples, oldest first, with a stable cursor",
           {200: ("A page (or, with format=ndjson, the whole export as one sample per line)", {
               "type": "object", "required": ["samples", "next_cursor"], "properties": {
                   "samples": {"type": "array", "items": SAMPLE_SCHEMA},
                   "next_cursor": nullable({"type": "string"})}})},
           also={200: {"application/x-ndjson": {"type": "string"}}},
           params=[USER, Param("type", description="Sample types, comma-separated or repeated"),
                   Param("since", schema=INSTANT), Param("until", schema=INSTANT),
                   Param("limit", schema={"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
                   Param("cursor"), Param("format", schema={"enum": ["json", "ndjson"]}),
                   Param("source", description="Only this vendor's samples"),
                   Param("include_deleted", schema={"enum": ["true", "false", "1", "0"]}),
                   Param("view", schema={"enum": list(VIEWS)},
                         description="plain (default): every stored sample; merged: one per real "
                                     "event or time slot across sources, by source priority, each "
                                     "with `merge` (its source, what it stands for and hides)")],
           tags=["samples"])
async def list_samples(request: Request) -> Response:
    engine = engine_of(request)
    user_id = user_id_of(request)
    query = request.query_params
    unknown = set(query) - {"type", "since", "until", "limit", "cursor", "format", "source", "include_deleted",
                            "view"}
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(sorted(unknown))}", code="invalid_query")
    options: dict[str, Any] = {
        "sample_types": _types(request),
        "source": query.get("source") or None,
        "since": parse_instant(query["since"], "since") if "since" in query else None,
        "until": parse_instant(query["until"], "until") if "until" in query else None,
        "include_deleted": _flag(request, "include_deleted"),
    }
    fmt = query.get("format", "json")
    if fmt not in ("json", "ndjson"):
        raise BadRequest("format must be json or ndjson", code="invalid_query")
    limit = page_limit(query.get("limit"), default=DEFAULT_PAGE, maximum=MAX_PAGE)
    cursor = query.get("cursor") or None
    if view_of(query) == "merged":
        return await merged_samples(engine, user_id, options, ndjson=fmt == "ndjson", cursor=cursor,
                                    limit=limit if fmt == "json" or "limit" in query else None)
    store = engine.store
    if fmt == "ndjson":
        # The whole export by default; `limit` caps it.
        left = limit if "limit" in query else None
        first = await store.list_samples(user_id, limit=min(MAX_PAGE, left or MAX_PAGE), cursor=cursor, **options)

        async def lines() -> AsyncIterator[bytes]:
            nonlocal left
            page = first
            while True:
                for sample in page.samples:
                    yield json.dumps(sample_body(sample), separators=(",", ":")).encode() + b"\n"
                if left is not None:
                    left -= len(page.samples)
                if page.next_cursor is None or left == 0:
                    return
                page = await store.list_samples(user_id, limit=min(MAX_PAGE, left or MAX_PAGE),
                                                cursor=page.next_cursor, **options)

        return StreamingResponse(lines(), media_type="application/x-ndjson")
    page = await store.list_samples(user_id, limit=limit, cursor=cursor, **options)
    return CompactJSONResponse({"samples": [sample_body(s) for s in page.samples], "next_cursor": page.next_cursor})


# --------------------------------------------------------------------------- users


@operation("Delete a user: revoke every connection, delete their samples and events",
           {200: ("Deleted", {"type": "object", "required": ["user_id", "revoked", "deleted", "errors"], "properties": {
               "user_id": {"type": "string"},
               "revoked": {"type": "object", "additionalProperties": {"type": "boolean"}},
               "deleted": {"type": "object"}, "errors": {"type": "array", "items": {"type": "string"}}}})},
           params=[USER], tags=["users"])
async def delete_user(request: Request) -> JSONResponse:
    engine = engine_of(request)
    user_id = user_id_of(request)
    revoked: dict[str, bool] = {}
    errors: list[str] = []
    for connection in await engine.store.list_connections(user_id=user_id):
        if connection.vendor not in engine.specs or not connection.access_token:
            continue
        try:
            result = await engine.oauth.disconnect(connection.vendor, user_id, purge=False)  # all below
            revoked[connection.vendor] = result.revoked
            errors.extend(f"{connection.vendor}: {e}" for e in result.errors)
        except EngineError as error:
            revoked[connection.vendor] = False
            errors.append(f"{connection.vendor}: {error.message}")
    deleted = await engine.store.delete_user_data(user_id)
    log.info("user deleted", extra={"user": user_id, "vendors": sorted(revoked)})
    return JSONResponse({"user_id": user_id, "revoked": revoked, "deleted": deleted, "errors": errors})


# --------------------------------------------------------------------------- jobs


@operation("Background jobs, oldest first",
           {200: ("A page", {"type": "object", "required": ["jobs", "next_after"], "properties": {
               "jobs": {"type": "array", "items": JOB_SCHEMA}, "next_after": nullable({"type": "string"})}})},
           params=[Param("state", schema={"enum": list(JOB_STATES)}), Param("kind"),
                   Param("limit", schema={"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
                   Param("after", description="next_after of the previous page")],
           tags=["jobs"])
async def list_jobs(request: Request) -> JSONResponse:
    query = request.query_params
    state = query.get("state") or None
    if state is not None and state not in JOB_STATES:
        raise BadRequest(f"state must be one of {', '.join(JOB_STATES)}", code="invalid_query")
    kind = query.get("kind") or None
    limit = page_limit(query.get("limit"), default=DEFAULT_PAGE, maximum=MAX_PAGE)
    after = query.get("after") or None
    jobs = await engine_of(request).store.list_jobs(state=state, kind=kind, limit=limit, after_id=after)
    next_after = jobs[-1].id if len(jobs) == limit else None
    return JSONResponse({"jobs": [describe_job(j) for j in jobs], "next_after": next_after})


@operation("Run a failed or dead job again, with fresh attempts",
           {202: ("Queued again", JOB_SCHEMA)}, params=[Param("job_id", "path")], tags=["jobs"])
async def retry_job(request: Request) -> JSONResponse:
    store = engine_of(request).store
    job_id = request.path_params["job_id"][:128]
    job = await store.get_job(job_id)
    if job is None:
        raise NotFound("no job with this id", code="job_not_found")
    if job.state not in ("failed", "dead"):
        raise EngineError(f"only failed or dead jobs can be retried; this one is {job.state}",
                          code="job_not_retryable", status=409)
    if not await store.retry_job(job_id):
        raise EngineError("the job changed state meanwhile; look again", code="job_not_retryable", status=409)
    updated = await store.get_job(job_id)
    return JSONResponse(describe_job(updated) if updated else {"job_id": job_id}, status_code=202)


routes = [
    Route("/v1/users/{user_id}/connections/{vendor}/sync", start_sync, methods=["POST"]),
    Route("/v1/syncs/{sync_id}", get_sync, methods=["GET"]),
    Route("/v1/syncs/{sync_id}", cancel_sync, methods=["DELETE"]),
    Route("/v1/users/{user_id}/samples", list_samples, methods=["GET"]),
    Route("/v1/users/{user_id}", delete_user, methods=["DELETE"]),
    Route("/v1/jobs", list_jobs, methods=["GET"]),
    Route("/v1/jobs/{job_id}/retry", retry_job, methods=["POST"]),
]
