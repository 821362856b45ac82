"""The JSON Schema of a Synheart sample, generated from the sample catalogue.

``schemas/synheart-sample.schema.json`` is this function's output, checked in; a test keeps the
two equal. Regenerate with ``python -m engine.mapping.sample_schema > schemas/synheart-sample.schema.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from engine.mapping.zones import TZ_SOURCES
from engine.spec.catalogue import CATALOGUE, Catalogue, FieldDef

SCHEMA_ID = "https://synheart.dev/schemas/synheart-sample.schema.json"

_RFC3339_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"

ENVELOPE_FIELDS = (
    "user_id", "source", "sample_type", "timestamp_utc", "end_utc", "tz_offset_min", "tz_source",
    "local_date", "device", "provenance", "deleted", "meta", "dedup_key",
)


# What a sample says of where it came from. The mapping writes the first three; the store adds
# the rest from the columns it keeps beside the sample when the API or an outbound event shows it.
PROVENANCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "resource": {"type": "string", "minLength": 1},
        "vendor_record_id": {"type": ["string", "null"]},
        "vendor_updated_at": {
            "anyOf": [{"type": "string", "pattern": _RFC3339_UTC}, {"type": "null"}],
        },
        "channel": {
            "type": "string",
            "description": "How the record reached the engine: webhook, poll, backfill, "
                           "manual_sync or push.",
        },
        "spec_version": {
            "type": "integer", "minimum": 1,
            "description": (
                "The vendor spec language version (the spec's spec_version) the sample was "
                "mapped under; which revision of the spec's mappings produced it is mapping_hash."
            ),
        },
        "mapping_hash": {
            "type": "string",
            "description": "A fingerprint of the resource's sample mappings that produced it; "
                           "it changes whenever any of them does (engine remap re-derives).",
        },
        "raw_record_id": {
            "type": "string",
            "description": "The archived raw record version it was mapped from; absent when the "
                           "raw record was not kept (archive off, pruned, or a weak delivery).",
        },
    },
    "required": ["resource", "vendor_record_id", "vendor_updated_at"],
    "additionalProperties": False,
}


def _envelope(type_names: list[str]) -> dict[str, Any]:
    return {
        "user_id": {"type": "string", "minLength": 1, "description": "The application's user id."},
        "source": {"type": "string", "minLength": 1, "description": "Vendor spec id."},
        "sample_type": {"enum": type_names},
        "timestamp_utc": {
            "type": "string", "pattern": _RFC3339_UTC,
            "description": "Start (or instant) of the measurement, RFC 3339 in UTC.",
        },
        "end_utc": {
            "type": "string", "pattern": _RFC3339_UTC,
            "description": "End of an interval measurement, RFC 3339 in UTC.",
        },
        "tz_offset_min": {
            "type": ["integer", "null"], "minimum": -1080, "maximum": 1080,
            "description": "Local UTC offset in minutes at the start; null when the vendor gives none.",
        },
        "tz_source": {
            "enum": list(TZ_SOURCES),
            "description": (
                "Where the local offset (and a local time's instant) came from: record (the "
                "vendor's offset on the record or timestamp), connection (the zone the engine "
                "keeps for the connection, from the vendor's profile or records), app (the zone "
                "the app gave at connect time), unknown (no zone: a local time was read as UTC)."
            ),
        },
        "local_date": {
            "type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$",
            "description": "The day the vendor attributes the sample to, else the start's local date.",
        },
        "device": {"type": ["string", "object", "null"]},
        "provenance": PROVENANCE_SCHEMA,
        "deleted": {"type": "boolean", "description": "True for a tombstone."},
        "meta": {"type": "object", "description": "Vendor extras, passed through unconverted."},
        "dedup_key": {
            "type": "string", "minLength": 1,
            "description": (
                "user|source|resource|sample_type|(vendor record id or timestamp_utc), plus "
                "|timestamp_utc for samples exploded from one record; '%' and '|' inside parts "
                "are escaped as %25 and %7C."
            ),
        },
    }


def _field_schema(field: FieldDef) -> dict[str, Any]:
    if field.type == "string":
        schema: dict[str, Any] = {"type": "string"}
        if field.enum is not None:
            schema["enum"] = list(field.enum)
        return schema
    if field.type == "boolean":
        return {"type": "boolean"}
    schema = {"type": "number", "x-unit": field.unit}
    if field.min is not None:
        schema["minimum"] = field.min
    if field.max is not None:
        schema["maximum"] = field.max
    return schema


def build_sample_schema(catalogue: Catalogue = CATALOGUE) -> dict[str, Any]:
    type_names = sorted(catalogue.types)
    per_type = []
    for name in type_names:
        sample_type = catalogue.types[name]
        then: dict[str, Any] = {
            "properties": {f.name: _field_schema(f) for f in sample_type.fields.values()},
        }
        required = [f.name for f in sample_type.fields.values() if f.required]
        if required:
            then["required"] = required
        per_type.append({"if": {"properties": {"sample_type": {"const": name}}}, "then": then})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Synheart sample",
        "description": (
            "One normalized measurement. Value fields are in the canonical unit named by x-unit; "
            "which fields a sample may carry depends on sample_type."
        ),
        "type": "object",
        "properties": _envelope(type_names),
        "required": [
            "user_id", "source", "sample_type", "timestamp_utc", "tz_offset_min", "local_date",
            "provenance", "deleted", "dedup_key",
        ],
        "allOf": per_type,
        "unevaluatedProperties": False,
    }


def render(catalogue: Catalogue = CATALOGUE) -> str:
    return json.dumps(build_sample_schema(catalogue), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
