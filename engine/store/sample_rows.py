"""The row tuples both adapters write for a page of samples, built with as little per-row work as
possible: one id reservation per page and the payload JSON encoded by orjson where that gives
the same document as the stdlib encoder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.store.codec import dump_payload, new_ids, to_micros
from engine.store.port import SampleRecord

SampleRow = tuple[Any, ...]  # in the order of the samples table's insert columns

def sample_rows(samples: Sequence[SampleRecord], at: float) -> list[SampleRow]:
    ids = new_ids(at, len(samples))
    return [
        (
            row_id,
            s.user_id,
            s.source,
            s.sample_type,
            s.dedup_id,
            to_micros(s.timestamp_utc),
            None if s.end_utc is None else to_micros(s.end_utc),
            int(s.deleted),
            None if s.vendor_updated_at is None else to_micros(s.vendor_updated_at),
            s.resource,
            s.vendor_record_id,
            dump_payload(s.payload),
            at,
        )
        for row_id, s in zip(ids, samples, strict=True)
    ]
