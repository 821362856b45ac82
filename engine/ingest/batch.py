"""Reading a posted batch: bounded JSON, checked against the spec's variant of
schemas/ingest-batch.schema.json, its records grouped by the resource their type routes to and
its deletions by the resource they name.

Pure: no store, no clock. The contract test (`engine test`) replays fixtures through it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from engine.spec.catalogue import load_json_schema
from engine.spec.compile_ingest import BATCH_SCHEMA
from engine.spec.model import Ingest, Spec
from engine.webhooks.body import BodyError, parse_json
from engine.webhooks.events import scalar_text

MAX_ERROR_CHARS = 300


class BatchError(ValueError):
    """A batch that is not one this spec takes; the message is safe to answer with (400)."""


@dataclass(frozen=True, slots=True)
class Deletion:
    record_id: str
    resource: str | None  # None: look for the id in every resource


@dataclass(slots=True)
class Batch:
    records: dict[str, list[Any]] = field(default_factory=dict)  # resource -> records, in order
    deletions: list[Deletion] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)  # record type -> count (no route)

    @property
    def record_count(self) -> int:
        return sum(len(records) for records in self.records.values())


@cache
def _validator(variant: str) -> Draft202012Validator:
    schema = load_json_schema(BATCH_SCHEMA)
    return Draft202012Validator({"$ref": f"#/$defs/{variant}", "$defs": schema["$defs"]})


def check_batch(variant: str, document: Any) -> None:
    """Raise `BatchError` naming the most relevant schema violation, with its JSON path."""
    error = best_match(_validator(variant).iter_errors(document))
    if error is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "(batch)"
        raise BatchError(f"not a {variant} batch: {where.lstrip('.')}: {error.message}"[:MAX_ERROR_CHARS])


def read_batch(spec: Spec, body: bytes) -> Batch:
    ingest = _ingest(spec)
    try:
        document = parse_json(body)
    except BodyError as bad:
        raise BatchError(f"the batch {bad}") from None
    check_batch(ingest.batch, document)
    return route_batch(ingest, document)


def route_batch(ingest: Ingest, document: Any) -> Batch:
    """Group a schema-valid batch's records and deletions by resource."""
    batch = Batch()
    records = ingest.records.search(document)
    deletions = ingest.deleted.search(document) if ingest.deleted is not None else None
    records = records if isinstance(records, list) else []
    deletions = deletions if isinstance(deletions, list) else []
    if len(records) + len(deletions) > ingest.max_records:
        raise BatchError(f"more than {ingest.max_records} records and deletions in one batch; post smaller batches")
    for record in records:
        record_type = scalar_text(ingest.type.search(record)) or ""
        resource = ingest.routes.get(record_type)
        if resource is None:
            batch.ignored[record_type] = batch.ignored.get(record_type, 0) + 1
            continue
        batch.records.setdefault(resource, []).append(record)
    for deleted in deletions:
        record_id = scalar_text(ingest.deleted_id.search(deleted)) if ingest.deleted_id is not None else None
        if record_id is None:
            continue
        deleted_type = scalar_text(ingest.deleted_type.search(deleted)) if ingest.deleted_type is not None else None
        if deleted_type is not None and deleted_type not in ingest.routes:
            batch.ignored[deleted_type] = batch.ignored.get(deleted_type, 0) + 1
            continue
        batch.deletions.append(Deletion(record_id, ingest.routes.get(deleted_type or "")))
    return batch


def _ingest(spec: Spec) -> Ingest:
    if spec.ingest is None:
        raise BatchError(f"{spec.id} takes no ingest batches")
    return spec.ingest
