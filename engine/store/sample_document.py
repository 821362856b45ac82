"""The one rendering of a stored sample as the customer sees it, in the samples API, its export
and the samples an outbound `samples.changed` event carries inline: the stored payload, its
tombstone flag, and the provenance the store keeps beside the payload (how the record arrived,
the spec language version and mapping that produced the sample, the archived raw record)."""

from __future__ import annotations

from typing import Any

from engine.store.records import SampleProvenance

# Provenance the store keeps in columns → its name in the sample's `provenance` object.
ARCHIVE_PROVENANCE = ("channel", "spec_version", "mapping_hash", "raw_record_id")


def sample_document(payload: Any, deleted: bool, provenance: SampleProvenance | None) -> Any:
    """The sample document; a payload that is not an object is given back as it is."""
    if not isinstance(payload, dict):
        return payload
    body = dict(payload)
    body["deleted"] = deleted
    if provenance is not None:
        kept = {name: value for name, value in zip(
            ARCHIVE_PROVENANCE,
            (provenance.channel, provenance.spec_version, provenance.mapping_hash, provenance.raw_id),
            strict=True) if value is not None}
        named = body.get("provenance")
        if kept and isinstance(named, dict):
            body["provenance"] = {**named, **kept}
    return body
