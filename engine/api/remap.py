"""`POST /v1/vendors/{vendor}/remap` `{user?, since?, resources?, dry_run?}`: re-derive a vendor's
stored samples from the raw archive with the spec as loaded now, without a vendor call (what
`engine remap` does). The answer is the run's report; a run that stopped part way resumes when
asked again with the same scope."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.api.common import engine_of, read_json_object
from engine.api.connections import VENDOR
from engine.api.data import INSTANT, parse_instant
from engine.api.openapi import nullable, operation
from engine.archive.remap import COUNTS, Remapper
from engine.auth.flows import check_user_id
from engine.errors import BadRequest

MAX_RESOURCES = 64
_FIELDS = frozenset({"user", "since", "resources", "dry_run"})

_CHANGE = {"type": "object", "required": ["user_id", "sample_type", "dedup_id", "fields"], "properties": {
    "user_id": {"type": "string"}, "sample_type": {"type": "string"}, "dedup_id": {"type": "string"},
    "fields": {"type": "object", "description": "field → {before, after}; null: absent",
               "additionalProperties": {"type": "object", "properties": {"before": {}, "after": {}}}}}}
REMAP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["vendor", "dry_run", *COUNTS, "not_remappable", "examples"],
    "properties": {
        "vendor": {"type": "string"}, "dry_run": {"type": "boolean"},
        **{name: {"type": "integer", "minimum": 0} for name in COUNTS},
        "not_remappable": {"type": "integer", "minimum": 0,
                           "description": "Samples with no archived raw record: left alone"},
        "run_id": nullable({"type": "string"}), "resumed": {"type": "boolean"},
        "examples": {"type": "array", "items": _CHANGE, "description": "Some of the changes"},
    },
}


def _resources(value: Any) -> list[str] | None:
    if value is None:
        return None
    if (not isinstance(value, list) or not value or len(value) > MAX_RESOURCES
            or not all(isinstance(r, str) and 0 < len(r) <= 128 for r in value)):
        raise BadRequest("resources must be a non-empty list of resource names", code="invalid_body")
    return value


@operation("Re-map a vendor's archived raw records with the spec as loaded now (no vendor call)",
           {200: ("What changed, or with dry_run what would", REMAP_SCHEMA)},
           params=[VENDOR],
           body={"type": "object", "additionalProperties": False, "properties": {
               "user": {"type": "string", "minLength": 1, "maxLength": 256,
                        "description": "Only this app user (default: every user)"},
               "since": {**INSTANT, "description": "Only records with a sample from this time on"},
               "resources": {"type": "array", "minItems": 1, "maxItems": MAX_RESOURCES,
                             "items": {"type": "string", "minLength": 1, "maxLength": 128},
                             "description": "default: every resource with sample mappings"},
               "dry_run": {"type": "boolean", "description": "Report the changes, write nothing"}}},
           body_required=False, tags=["vendors"])
async def remap_vendor(request: Request) -> JSONResponse:
    engine = engine_of(request)
    spec = engine.spec(request.path_params["vendor"])  # 404 for an unknown vendor first
    body = await read_json_object(request, optional=True)
    unknown = set(body) - _FIELDS
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))[:200]}", code="invalid_body")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise BadRequest("user must be a string", code="invalid_body")
    if user is not None:
        check_user_id(user)
    since = parse_instant(body["since"], "since") if body.get("since") is not None else None
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise BadRequest("dry_run must be true or false", code="invalid_body")
    resources = _resources(body.get("resources"))
    missing = sorted(set(resources or ()) - set(spec.resources))
    if missing:
        raise BadRequest(f"{spec.id} has no resource(s) {', '.join(missing)[:200]}; known: "
                         f"{', '.join(sorted(spec.resources))[:400]}", code="unknown_resource", vendor=spec.id)
    report = await Remapper(engine.store, spec).run(user_id=user, since=since, resources=resources,
                                                    dry_run=dry_run)
    return JSONResponse(report.as_dict())


routes = [Route("/v1/vendors/{vendor}/remap", remap_vendor, methods=["POST"])]
