"""What the raw archive keeps of a vendor record, and the provenance a sample mapped from it
carries: the record's identity, its content hash, its compressed body, and a fingerprint of the
mapping that produced the sample.

A record's identity is the vendor's record id as the resource's first mapping with a `record_id`
reads it (a mapping that explodes a list reads it under `record.`); a record without one is known
by its content alone. Bodies are zstd-compressed: on the archive benchmark's records it
compresses about twice as fast as zlib and decompresses about 1.6 times as fast, for 5% more
bytes (bench/RESULTS.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import zstandard

from engine.mapping.compiler import ResourceMapper
from engine.mapping.zones import ZoneHistory
from engine.spec.expr import Expr
from engine.spec.model import Resource, Spec
from engine.store.codec import load_exact
from engine.store.port import RawHead, RawVersion, SampleProvenance, SampleRecord

CODEC = "zstd"
# The spec language version every shipped spec declares (the schema's `spec_version` const).
SPEC_LANGUAGE_VERSION = 1
CHANNELS = ("webhook", "poll", "backfill", "manual_sync", "push")
# Trust of what was read from the vendor's API with the user's own token.
FETCHED = "fetched"
# Only these bodies are archived: a weak or unauthenticated delivery's body is never a record.
KEPT_TRUST = frozenset({FETCHED, "authenticated"})

_compressor = zstandard.ZstdCompressor(level=3)
_decompressor = zstandard.ZstdDecompressor()


@dataclasses.dataclass(frozen=True, slots=True)
class Arrival:
    """How a page of records reached the engine."""

    channel: str
    trust: str = FETCHED

    @property
    def archived(self) -> bool:
        return self.trust in KEPT_TRUST


def canonical(record: Any) -> bytes:
    """The record as sorted-key JSON: equal content, equal bytes."""
    try:
        return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # what orjson refuses (huge integers, non-string keys) the stdlib writes
        return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def compress(body: bytes) -> bytes:
    return _compressor.compress(body)


def decompress(codec: str, body: bytes) -> Any:
    if codec != CODEC:
        raise ValueError(f"unknown raw record codec {codec!r}")
    return load_exact(_decompressor.decompress(body))  # huge integers stay integers


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _fingerprint(value: Any) -> Any:
    if isinstance(value, Expr):
        return ["expr", value.text]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__name__,
                {f.name: _fingerprint(getattr(value, f.name)) for f in dataclasses.fields(value)}]
    if isinstance(value, (list, tuple)):
        return [_fingerprint(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _fingerprint(v) for k, v in value.items()}
    return value


def mapping_hash(resource: Resource) -> str:
    """A fingerprint of the resource's sample mappings: it changes when any of them does."""
    text = json.dumps(_fingerprint(resource.samples), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ResourceArchiver:
    """One resource's record identities, mapping fingerprint and sample provenance."""

    __slots__ = ("_ids", "mapping_hash", "resource", "vendor")

    def __init__(self, spec: Spec, resource: str) -> None:
        self.vendor = spec.id
        self.resource = resource
        mappings = spec.resources[resource].samples
        self._ids = tuple((m.record_id.search, m.each is not None) for m in mappings
                          if m.record_id is not None)
        self.mapping_hash = mapping_hash(spec.resources[resource])

    def record_key(self, record: Any, body: bytes) -> str:
        if isinstance(record, dict):
            for read, exploded in self._ids:
                value = read({"record": record} if exploded else record)
                if isinstance(value, (str, int)) and not isinstance(value, bool):
                    return f"id:{value}"
        return "sha:" + hashlib.sha256(body).hexdigest()[:32]

    def version(self, record: Any, user_id: str, arrival: Arrival) -> RawVersion:
        """The record as an archive version, its body not yet compressed."""
        body = canonical(record)
        record_key = self.record_key(record, body)
        raw_key = _digest(self.vendor, user_id, self.resource, record_key)
        content_hash = hashlib.sha256(body).hexdigest()[:32]
        return RawVersion(f"{raw_key}.{content_hash}", raw_key, self.vendor, user_id, self.resource,
                          record_key, content_hash, arrival.channel, arrival.trust, CODEC, body)

    def provenance(self, channel: str, version: RawVersion | None) -> SampleProvenance:
        return SampleProvenance(channel, SPEC_LANGUAGE_VERSION, self.mapping_hash,
                                None if version is None else version.raw_key,
                                None if version is None else version.id)

    def provenance_of(self, head: RawHead) -> SampleProvenance:
        """The provenance of a sample re-mapped from an archived version: its first channel."""
        return SampleProvenance(head.channel, SPEC_LANGUAGE_VERSION, self.mapping_hash,
                                head.raw_key, head.id)

    def map_linked(
        self, mapper: ResourceMapper, records: Iterable[Any], user_id: str, arrival: Arrival,
        versions: list[RawVersion], zones: ZoneHistory | None = None,
    ) -> tuple[list[SampleRecord], int, Any]:
        """Map record by record so each sample names the version it came from; the versions are
        appended to `versions`. Returns the sample rows, the warning count and the first warning."""
        rows: list[SampleRecord] = []
        warnings = 0
        first = None
        for record in records:
            version = self.version(record, user_id, arrival)
            versions.append(version)
            result = mapper.map_records((record,), user_id, zones)
            if result.warnings:
                warnings += len(result.warnings)
                first = first or result.warnings[0]
            provenance = self.provenance(arrival.channel, version)
            rows.extend(SampleRecord.from_sample(s, s["dedup_key"], provenance) for s in result.samples)
        return rows, warnings, first


def compressed(versions: Sequence[RawVersion]) -> list[RawVersion]:
    return [dataclasses.replace(v, body=compress(v.body)) for v in versions]
