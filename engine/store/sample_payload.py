"""A sample's payload as stored: without what the row's columns already say.

A mapped sample repeats its key and times (`user_id`, `source`, `sample_type`, `timestamp_utc`,
`end_utc`, `dedup_key`) and its record's provenance, which the samples table keeps as columns;
those are more than half of a typical payload. `pack` drops them and `unpack` puts them back
from the columns, in their places. A payload is packed only when every value left out is, type
and all, what unpacking puts back in its place, so the document read is the JSON text written,
key order included (a property test holds it to that); any other payload is stored as it is. A
packed payload starts with `PACKED`, which JSON text never does, so both forms live in one
column and rows written before packing read as before.

Only columns that change together with the payload are used (the key, the times, the resource
and the vendor's record id): `vendor_updated_us` can move on its own (a tombstone's version), so
the provenance keeps its own `vendor_updated_at`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.store.codec import dump_payload, load_exact

PACKED = "\x01"
_EPOCH = datetime(1970, 1, 1)  # naive: UTC without a zone to carry, the quickest to format
_HEAD = ("user_id", "source", "sample_type", "timestamp_utc")
_PROVENANCE = ("resource", "vendor_record_id", "vendor_updated_at")


def utc_text(micros: int) -> str:
    """`2024-03-01T06:30:00Z`; milliseconds or microseconds only when present (as mapped)."""
    moment = _EPOCH + timedelta(microseconds=micros)
    if moment.microsecond == 0:
        return moment.isoformat() + "Z"
    if moment.microsecond % 1000 == 0:
        return moment.isoformat(timespec="milliseconds") + "Z"
    return moment.isoformat(timespec="microseconds") + "Z"


# A samples row's leading columns, as `pack` and `unpack` take them: user_id, source,
# sample_type, dedup_id, timestamp_us, end_us, deleted, vendor_updated_us, resource,
# vendor_record_id (the table's SAMPLE_COLUMNS order).
Leading = tuple[Any, ...]


def pack(payload: Any, row: Leading) -> str:
    """The stored text of `payload`: packed when that is lossless, else its JSON."""
    body = _strip(payload, row) if type(payload) is dict else None
    return dump_payload(payload) if body is None else PACKED + dump_payload(body)


def unpack(text: str, row: Leading) -> Any:
    if not text.startswith(PACKED):
        return load_exact(text)
    return _restore(load_exact(text[1:]), row)




def _same(value: Any, column: Any) -> bool:
    return type(value) is type(column) and value == column  # 1 is not True, nor 1.0


def _strip(payload: dict[str, Any], row: Leading) -> dict[str, Any] | None:
    """The payload without what `_restore` puts back exactly, or None when it would not."""
    keys = list(payload)
    head = len(_HEAD) + (row[5] is not None)
    if keys[:head] != [*_HEAD, "end_utc"][:head] or len(keys) <= head or keys[-1] != "dedup_key":
        return None
    derived = (row[0], row[1], row[2], utc_text(row[4]), *(() if row[5] is None else (utc_text(row[5]),)))
    if not all(_same(payload[key], value) for key, value in zip(keys, derived, strict=False)):
        return None
    if not _same(payload["dedup_key"], row[3]):
        return None
    body = {key: payload[key] for key in keys[head:-1]}
    provenance = body.get("provenance")
    if (type(provenance) is dict and list(provenance) == list(_PROVENANCE)
            and _same(provenance["resource"], row[8]) and _same(provenance["vendor_record_id"], row[9])):
        body["provenance"] = [provenance["vendor_updated_at"]]
    elif type(provenance) is list and len(provenance) == 1:
        return None  # it would read back as the columns' provenance
    return body


def _restore(body: dict[str, Any], row: Leading) -> dict[str, Any]:
    document: dict[str, Any] = {"user_id": row[0], "source": row[1], "sample_type": row[2],
                                "timestamp_utc": utc_text(row[4])}
    if row[5] is not None:
        document["end_utc"] = utc_text(row[5])
    document.update(body)
    provenance = body.get("provenance")
    if type(provenance) is list and len(provenance) == 1:
        document["provenance"] = {"resource": row[8], "vendor_record_id": row[9],
                                  "vendor_updated_at": provenance[0]}
    document["dedup_key"] = row[3]
    return document
