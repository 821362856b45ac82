"""Contract: a replacing re-read removes only the samples of the records it read that they no
longer map to: not other records', resources' or users', and never a vendor's own tombstone."""

from __future__ import annotations

import pytest

from engine.store import SampleRecord, Store
from engine.store.records import REMOVED_BY_MAPPING

pytestmark = pytest.mark.anyio


def _sample(user: str, resource: str, record: str, sample_type: str, key: str, *,
            deleted: bool = False) -> SampleRecord:
    return SampleRecord.from_sample({
        "user_id": user, "source": "oura", "sample_type": sample_type,
        "timestamp_utc": "2026-03-02T06:00:00Z", "deleted": deleted,
        "provenance": {"resource": resource, "vendor_record_id": record, "vendor_updated_at": None}}, key)


async def _live(store: Store, user: str) -> set[str]:
    page = await store.list_samples(user, include_deleted=False, limit=100)
    return {s.dedup_id for s in page.samples}


async def test_only_what_the_records_read_no_longer_yield_is_removed(store: Store):
    await store.upsert_samples([
        _sample("u1", "sleep", "rest-1", "sleep_session", "a"),
        _sample("u1", "sleep", "rest-1", "heart_rate", "b"),
        _sample("u1", "sleep", "s-2", "sleep_session", "c"),  # still produced
        _sample("u1", "sleep", "s-2", "hrv_rmssd", "d"),
        _sample("u1", "sleep", "s-3", "sleep_session", "e"),  # not read
        _sample("u1", "workout", "rest-1", "workout", "f"),  # same id, another resource
        _sample("u2", "sleep", "rest-1", "sleep_session", "g"),  # another user
    ])
    removed = await store.tombstone_unproduced("oura", "u1", "sleep", ["rest-1", "s-2"],
                                               [("sleep_session", "c")])
    assert removed == 3
    assert await _live(store, "u1") == {"c", "e", "f"}
    assert await _live(store, "u2") == {"g"}
    page = await store.list_samples("u1", include_deleted=True, limit=100)
    assert {s.dedup_id for s in page.samples if s.removed_by_mapping} == {"a", "b", "d"}
    assert REMOVED_BY_MAPPING == 2
    assert await store.tombstone_unproduced("oura", "u1", "sleep", ["rest-1", "s-2"], []) == 1  # c
    assert await store.tombstone_unproduced("oura", "u1", "sleep", [], []) == 0


async def test_many_records_are_read_in_chunks(store: Store):
    ids = [f"r{i}" for i in range(1_203)]
    await store.upsert_samples([_sample("u1", "sleep", rid, "sleep_session", rid) for rid in ids])
    kept = [("sleep_session", rid) for rid in ids[::2]]
    assert await store.tombstone_unproduced("oura", "u1", "sleep", ids, kept) == len(ids) // 2
    page = await store.list_samples("u1", include_deleted=False, limit=2_000)
    assert len(page.samples) == len(kept)
