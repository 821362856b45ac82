"""Contract: idempotent sample upserts, tombstones, keyset pages, deleting a user."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from engine.store import InboxEvent, InvalidCursor, JobSpec, SampleRecord, Store

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def sample(
    record: str,
    *,
    minutes: int = 0,
    version: datetime | None = None,
    bpm: int = 60,
    sample_type: str = "heart_rate",
    user: str = "u1",
) -> SampleRecord:
    start = T0 + timedelta(minutes=minutes)
    payload = {
        "user_id": user,
        "source": "acme",
        "sample_type": sample_type,
        "timestamp_utc": start.isoformat().replace("+00:00", "Z"),
        "bpm": bpm,
        "provenance": {
            "resource": "hr",
            "vendor_record_id": record,
            "vendor_updated_at": None if version is None else version.isoformat(),
        },
        "deleted": False,
    }
    return SampleRecord.from_sample(payload, dedup_id=f"{record}:{minutes}")


async def all_samples(store: Store, user: str = "u1", **kw):
    return (await store.list_samples(user, limit=1000, **kw)).samples


async def test_same_upsert_twice_leaves_the_same_rows(store: Store) -> None:
    batch = [sample("r1", minutes=m) for m in range(3)]
    first = await store.upsert_samples(batch)
    before = await all_samples(store)
    second = await store.upsert_samples(batch)
    after = await all_samples(store)
    assert (first.written, second.written) == (3, 3)
    assert len(after) == 3
    assert [(s.dedup_id, s.payload) for s in after] == [(s.dedup_id, s.payload) for s in before]
    assert after[0].timestamp_utc == T0 and after[0].payload["bpm"] == 60


async def test_a_large_upsert_keeps_the_latest_version_of_a_sample_given_twice(store: Store) -> None:
    # 600 samples (more than one statement's worth on SQLite), one of them twice in the same call:
    # newer version first, then an older one that must not overwrite it.
    batch = [sample(f"r{i}", minutes=i, version=T0) for i in range(600)]
    batch.insert(300, sample("r7", minutes=7, version=T0 + timedelta(hours=1), bpm=99))
    batch.append(sample("r7", minutes=7, version=T0 - timedelta(hours=1), bpm=11))
    result = await store.upsert_samples(batch)
    assert (result.written, result.skipped) == (601, 1)  # r7 stored, replaced by the newer, stale skipped
    rows = await all_samples(store)
    assert len(rows) == 600
    assert next(s for s in rows if s.dedup_id == "r7:7").payload["bpm"] == 99


async def test_latest_vendor_version_wins_whatever_the_arrival_order(store: Store) -> None:
    old, new = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    await store.upsert_samples([sample("r1", version=new, bpm=70)])
    stale = await store.upsert_samples([sample("r1", version=old, bpm=50)])
    assert (stale.written, stale.skipped) == (0, 1)
    (stored,) = await all_samples(store)
    assert stored.payload["bpm"] == 70 and stored.vendor_updated_at == new
    newer = await store.upsert_samples([sample("r1", version=new + timedelta(seconds=1), bpm=80)])
    assert newer.written == 1
    assert (await all_samples(store))[0].payload["bpm"] == 80


async def test_versionless_refetch_replaces_but_keeps_the_known_version(store: Store) -> None:
    known = T0 + timedelta(hours=2)
    await store.upsert_samples([sample("r1", version=known, bpm=70)])
    assert (await store.upsert_samples([sample("r1", bpm=71)])).written == 1
    (stored,) = await all_samples(store)
    assert stored.payload["bpm"] == 71 and stored.vendor_updated_at == known
    assert (await store.upsert_samples([sample("r1", version=T0, bpm=1)])).written == 0


async def test_tombstone_marks_every_sample_of_the_record(store: Store) -> None:
    await store.upsert_samples(
        [sample("r1", minutes=0), sample("r1", minutes=1), sample("r2", minutes=2)]
    )
    marked = await store.tombstone_samples(
        "u1", "acme", vendor_record_id="r1", resource="hr", deleted_at=T0 + timedelta(days=1)
    )
    assert marked == 2
    rows = await all_samples(store)
    assert [(s.vendor_record_id, s.deleted, s.payload["deleted"]) for s in rows] == [
        ("r1", True, True),
        ("r1", True, True),
        ("r2", False, False),
    ]
    live = await all_samples(store, include_deleted=False)
    assert [s.vendor_record_id for s in live] == ["r2"]
    # An older copy arriving late (or a version-less re-fetch) does not resurrect it.
    assert (await store.upsert_samples([sample("r1", version=T0)])).written == 0
    assert (await store.upsert_samples([sample("r1")])).written == 0
    assert len(await all_samples(store, include_deleted=False)) == 1


async def test_tombstone_keeps_a_version_newer_than_the_delete(store: Store) -> None:
    await store.upsert_samples([sample("r1", version=T0 + timedelta(days=2))])
    assert (
        await store.tombstone_samples(
            "u1", "acme", vendor_record_id="r1", deleted_at=T0 + timedelta(days=1)
        )
        == 0
    )
    assert not (await all_samples(store))[0].deleted


async def test_window_tombstone_marks_the_resource_samples_inside_the_range(store: Store) -> None:
    await store.upsert_samples(
        [sample(f"r{m}", minutes=m) for m in range(5)] + [sample("other", minutes=2, user="u2")]
    )
    outside_resource = SampleRecord.from_sample(
        {**sample("w", minutes=2).payload, "provenance": {"resource": "workouts", "vendor_record_id": "w"}},
        dedup_id="w",
    )
    await store.upsert_samples([outside_resource])
    marked = await store.tombstone_samples_in_window(
        "u1", "acme", "hr", T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)
    )
    assert marked == 2  # [start, end): minutes 1 and 2
    rows = await all_samples(store)
    assert [(s.vendor_record_id, s.deleted) for s in rows] == [
        ("r0", False), ("r1", True), ("r2", True), ("w", False), ("r3", False), ("r4", False),
    ]
    assert not (await all_samples(store, user="u2"))[0].deleted
    # Marking again changes nothing; a re-read of a record the vendor still has brings it back.
    assert await store.tombstone_samples_in_window(
        "u1", "acme", "hr", T0, T0 + timedelta(minutes=3)) == 1
    assert (await store.upsert_samples([sample("r1", minutes=1)])).written == 1
    assert [s.vendor_record_id for s in await all_samples(store, include_deleted=False)][:2] == ["r1", "w"]


async def test_window_tombstone_keeps_samples_stored_after_the_cutoff(store: Store, clock) -> None:
    await store.upsert_samples([sample("old", minutes=0)])
    cutoff = clock.advance(5)
    clock.advance(5)
    await store.upsert_samples([sample("reread", minutes=1, version=T0)])
    marked = await store.tombstone_samples_in_window(
        "u1", "acme", "hr", T0, T0 + timedelta(hours=1), stored_before=cutoff
    )
    assert marked == 1
    assert [(s.vendor_record_id, s.deleted) for s in await all_samples(store)] == [
        ("old", True), ("reread", False),
    ]


async def test_filters_by_type_source_and_time_range(store: Store) -> None:
    await store.upsert_samples(
        [sample("a", minutes=m) for m in range(5)]
        + [sample("b", minutes=m, sample_type="steps") for m in range(5)]
        + [sample("c", minutes=1, user="u2")]
    )
    since, until = T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)
    rows = await all_samples(store, sample_types=["steps"], since=since, until=until)
    assert [(s.sample_type, s.timestamp_utc) for s in rows] == [
        ("steps", since),
        ("steps", since + timedelta(minutes=1)),
    ]
    assert len(await all_samples(store, source="acme")) == 10
    assert len(await all_samples(store, source="elsewhere")) == 0
    assert len(await all_samples(store, "u2")) == 1


async def test_keyset_pages_are_stable_while_rows_are_added(store: Store) -> None:
    await store.upsert_samples(
        [sample(f"r{i}", minutes=i // 3) for i in range(30)]  # three samples per instant
    )
    seen: list[str] = []
    cursor = None
    page_number = 0
    while True:
        page = await store.list_samples("u1", limit=7, cursor=cursor)
        seen.extend(s.dedup_id for s in page.samples)
        if page_number == 1:
            # Rows landing before and after the cursor while the client pages.
            await store.upsert_samples([sample("early", minutes=-5), sample("late", minutes=99)])
        page_number += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert set(seen) == {f"r{i}:{i // 3}" for i in range(30)} | {"late:99"}
    times = [s.timestamp_utc for s in await all_samples(store)]
    assert times == sorted(times)


@pytest.mark.parametrize("cursor", ["garbage!", "", "MTIzOnh5eg", "bm90LWEtY3Vyc29y"])
async def test_malformed_cursor_is_a_clear_error(store: Store, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        await store.list_samples("u1", cursor=cursor)


async def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValueError):
        SampleRecord.from_sample(
            {
                "user_id": "u",
                "source": "s",
                "sample_type": "t",
                "timestamp_utc": "2026-01-01T00:00:00",
            },
            dedup_id="d",
        )


async def test_delete_user_data_removes_everything_of_that_user_only(store: Store) -> None:
    for user in ("u1", "u2"):
        await store.upsert_connection(
            "acme",
            user,
            vendor_user_id=f"v-{user}",
            scopes=[],
            access_token="a",
            refresh_token="r",
            token_expires_at=None,
        )
        await store.upsert_samples([sample("r", user=user)])
        await store.set_cursor("acme", user, "hr", "c")
        await store.record_event_and_enqueue(
            InboxEvent("acme", f"e-{user}", vendor_user_id=f"v-{user}"),
            JobSpec("event", user_id=user),
        )
        await store.create_sync(f"sync-{user}", "acme", user, windows_total=1)
    counts = await store.delete_user_data("u1")
    assert counts["connections"] == 1 and counts["samples"] == 1
    assert counts["inbox_events"] == 1 and counts["jobs"] == 1 and counts["cursors"] == 1
    assert await store.get_connection("acme", "u1") is None
    assert await all_samples(store, "u1") == []
    assert await store.get_cursor("acme", "u1", "hr") is None
    assert await store.get_sync("sync-u1") is None
    assert await store.get_connection("acme", "u2") is not None
    assert len(await all_samples(store, "u2")) == 1
    assert (await store.count_jobs())["queued"] == 1
    # The deleted user's event may be delivered again and is accepted as new.
    assert (await store.record_event_and_enqueue(InboxEvent("acme", "e-u1"), None)).created


async def test_the_time_range_spans_the_named_types_tombstones_included(store: Store) -> None:
    assert await store.sample_time_range("u1", ["heart_rate"]) is None
    await store.upsert_samples([sample("r1", minutes=m) for m in (30, 5, 90)]
                               + [sample("s1", minutes=-60, sample_type="steps"),
                                  sample("o1", minutes=500, user="u2")])
    assert await store.sample_time_range("u1", ["heart_rate"]) == (
        T0 + timedelta(minutes=5), T0 + timedelta(minutes=90))
    assert await store.sample_time_range("u1", ["heart_rate", "steps", "sleep_session"]) == (
        T0 - timedelta(minutes=60), T0 + timedelta(minutes=90))
    await store.tombstone_samples("u1", "acme", vendor_record_id="r1")
    assert await store.sample_time_range("u1", ["heart_rate"]) == (
        T0 + timedelta(minutes=5), T0 + timedelta(minutes=90))
    assert await store.sample_time_range("u2", ["steps"]) is None


async def test_a_page_of_several_types_is_the_types_pages_merged_in_page_order(store: Store) -> None:
    """Several types are read one key range each and merged: against each type read on its own
    and merged by (time, type), whatever the filters, the page size and the cursor."""
    rng = random.Random(15)
    types = ["heart_rate", "steps", "sleep_session"]
    batch = []
    for n in range(160):
        kind = rng.choice(types[:1] * 6 + types[1:])  # heart rate dense, the others rare
        user = "u2" if n % 9 == 0 else "u1"
        record = sample(f"r{n}", minutes=rng.randrange(0, 40), sample_type=kind, user=user)
        payload = {**record.payload, "source": rng.choice(["acme", "zeta"])}
        batch.append(SampleRecord.from_sample(payload, dedup_id=f"d{n}"))
    await store.upsert_samples(batch)
    for n in range(0, 160, 7):
        await store.tombstone_samples("u1", batch[n].source, vendor_record_id=f"r{n}")

    async def read(kinds: list[str], limit: int, **filters) -> list[tuple[str, str]]:
        found, cursor = [], None
        while True:
            page = await store.list_samples("u1", sample_types=kinds, limit=limit, cursor=cursor, **filters)
            found += [(s.timestamp_utc, s.sample_type, s.dedup_id) for s in page.samples]
            if (cursor := page.next_cursor) is None:
                return found

    for _ in range(40):
        kinds = rng.sample(types, rng.choice([2, 3])) + ([types[1]] if rng.random() < 0.2 else [])
        filters = {"include_deleted": rng.random() < 0.5,
                   "source": rng.choice([None, "acme"]),
                   "since": rng.choice([None, T0 + timedelta(minutes=rng.randrange(0, 20))]),
                   "until": rng.choice([None, T0 + timedelta(minutes=rng.randrange(20, 41))])}
        expected: list = []
        for kind in dict.fromkeys(kinds):
            expected += await read([kind], 1000, **filters)
        expected.sort(key=lambda found: found[:2])  # stable: each type keeps its own page order
        got = await read(kinds, rng.randrange(1, 8), **filters)
        assert [d for *_, d in got] == [d for *_, d in expected], (kinds, filters)
        assert len(set(got)) == len(got)
