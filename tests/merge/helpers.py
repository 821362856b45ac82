"""Building stored samples for the merged-view tests: real SQLite (or PostgreSQL) stores, samples
written through the store's own upsert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from engine.instants import iso_utc
from engine.store.port import SampleRecord, StoredSample
from engine.store.records import SampleProvenance

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, midnight UTC
USER = "u1"


def at(hours: float = 0, *, minutes: float = 0, seconds: float = 0, day: int = 0) -> datetime:
    return T0 + timedelta(days=day, hours=hours, minutes=minutes, seconds=seconds)


def record(source: str, sample_type: str, start: datetime, end: datetime | None = None, *,
           rid: str, user: str = USER, **values: Any) -> SampleRecord:
    body: dict[str, Any] = {
        "user_id": user, "source": source, "sample_type": sample_type,
        "timestamp_utc": iso_utc(start), "tz_offset_min": 0, "local_date": start.date().isoformat(),
        "provenance": {"resource": sample_type, "vendor_record_id": rid, "vendor_updated_at": None},
        "dedup_key": f"{user}|{source}|{sample_type}|{sample_type}|{rid}", **values,
    }
    if end is not None:
        body["end_utc"] = iso_utc(end)
    return SampleRecord.from_sample(body, body["dedup_key"], SampleProvenance(channel="poll"))


def stored(rec: SampleRecord) -> StoredSample:
    """The sample as the store gives it back, without a store (for the property tests)."""
    return StoredSample(rec.user_id, rec.source, rec.sample_type, rec.dedup_id, rec.timestamp_utc,
                        rec.end_utc, False, None, rec.resource, rec.vendor_record_id,
                        dict(rec.payload), 0.0, rec.provenance)


def linked_ids(document: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(link["source"], link["vendor_record_id"], link["reason"]) for link in document["merge"]["linked"]]
