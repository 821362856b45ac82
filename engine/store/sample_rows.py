"""The row tuples both adapters write for a page of samples, built with as little per-row work as
possible: one id reservation per page and the payload JSON encoded by orjson where that gives
the same document as the stdlib encoder."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson

from engine.store.codec import dump_json, new_ids, to_micros
from engine.store.port import SampleRecord

SampleRow = tuple[Any, ...]  # in the order of the samples table's insert columns

_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_isfinite = math.isfinite


def _all_finite(value: dict[str, Any] | list[Any]) -> bool:
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if kind is float:
            if not _isfinite(item):
                return False
        elif (kind is dict or kind is list) and not _all_finite(item):
            return False
    return True


def dump_payload(payload: Any) -> str:
    """`dump_json(dict(payload))`, faster. orjson writes NaN and infinities as null where the
    stdlib refuses them, and refuses what the stdlib may accept (non-string keys, huge integers,
    mappings that are not dicts); either case goes to `dump_json`, so the result or the error is
    the stdlib's."""
    if type(payload) is dict and _all_finite(payload):
        try:
            return orjson.dumps(payload, option=_PASSTHROUGH).decode()
        except TypeError:
            pass
    return dump_json(dict(payload))


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
