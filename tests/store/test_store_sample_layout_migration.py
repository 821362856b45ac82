"""Upgrading a database made by the first samples layout (a random text id as the row's key) to
the clustered one: every sample reads back the same, keyed as before, on both stores; concurrent
first starts migrate once; progress is logged."""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.store import SampleRecord, StoredSample, open_store
from engine.store.migrate import load_migrations
from engine.store.records import REMOVED_BY_MAPPING, SampleProvenance
from engine.store.sql import sample_table

from .conftest import store_url
from .helpers import TEST_SECRET

pytestmark = pytest.mark.anyio

OLD_COLUMNS = (
    "id, user_id, source, sample_type, dedup_id, timestamp_us, end_us, deleted, vendor_updated_us, "
    "resource, vendor_record_id, payload, stored_at, channel, spec_version, mapping_hash, raw_key, raw_id"
)
START = datetime(2025, 3, 1, tzinfo=UTC)
USERS = ("ana", "bo", "chi")
TYPES = ("heart_rate", "steps")


def old_rows(count: int) -> list[tuple[Any, ...]]:
    """Rows of the first layout: random ids (so their order is not the samples' order), tombstones
    of both kinds, samples with and without provenance, samples of one instant sharing a time."""
    rng = random.Random(10)
    rows = []
    for n in range(count):
        user, sample_type = USERS[n % 3], TYPES[n % 2]
        at = START + timedelta(minutes=n // 4)
        record = f"rec-{n // 2}"
        deleted = REMOVED_BY_MAPPING if n % 17 == 0 else int(n % 11 == 0)
        payload = (f'{{"user_id":"{user}","source":"fitband","sample_type":"{sample_type}",'
                   f'"timestamp_utc":"{at:%Y-%m-%dT%H:%M:%SZ}","value":{n},"deleted":false}}')
        provenance = (("poll", 1, "m1", f"raw-{n // 2}", f"rid-{n}") if n % 3 else (None,) * 5)
        rows.append((f"{rng.getrandbits(64):016x}", user, "fitband", sample_type,
                     f"{user}|fitband|data|{sample_type}|{record}", int(at.timestamp() * 1e6),
                     int(at.timestamp() * 1e6) + 60_000_000 if n % 2 else None, deleted,
                     int(at.timestamp() * 1e6) + n if n % 5 else None, "data", record, payload,
                     1_700_000_000.0 + n, *provenance))
    return rows


def expected(row: tuple[Any, ...]) -> StoredSample:
    import json

    payload = json.loads(row[11])
    payload["deleted"] = bool(row[7])
    micros = lambda value: None if value is None else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)  # noqa: E731
    return StoredSample(row[1], row[2], row[3], row[4], micros(row[5]), micros(row[6]), bool(row[7]),
                        micros(row[8]), row[9], row[10], payload, row[12], SampleProvenance(*row[13:18]),
                        row[7] == REMOVED_BY_MAPPING)


def build_old_database(adapter: str, url: str, rows: list[tuple[Any, ...]]) -> None:
    """The schema as migrations 1-9 left it, with `rows` in its samples table."""
    before = [m for m in load_migrations() if m.version < 10]
    assert before and all(m.step is None for m in before)
    if adapter == "sqlite":
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
        mark = "?"
    else:
        import psycopg

        conn = psycopg.connect(url)
        mark = "%s"
    try:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                     " applied_at DOUBLE PRECISION NOT NULL)")
        for migration in before:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(f"INSERT INTO schema_version VALUES ({mark}, {mark}, 0)", (migration.version, migration.name))
        insert = f"INSERT INTO samples ({OLD_COLUMNS}) VALUES ({', '.join([mark] * 18)})"
        if adapter == "sqlite":
            conn.executemany(insert, rows)
        else:
            with conn.cursor() as cursor:
                cursor.executemany(insert, rows)
        conn.commit()
    finally:
        conn.close()


async def all_samples(store: Any, user: str, page: int) -> list[StoredSample]:
    found: list[StoredSample] = []
    cursor = None
    while True:
        result = await store.list_samples(user, limit=page, cursor=cursor)
        found.extend(result.samples)
        cursor = result.next_cursor
        if cursor is None:
            return found


async def test_an_old_database_upgrades_and_reads_back_the_same_samples(
    adapter: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sample_table, "_COPY_BATCH", 700)  # several batches, several progress lines
    rows = old_rows(2_400)
    url = store_url(adapter, tmp_path)
    build_old_database(adapter, url, rows)

    with caplog.at_level(logging.INFO, logger="engine.store"):
        store = await open_store(url, tmp_path, secret_keys=[TEST_SECRET])
    try:
        progress = [r for r in caplog.records if r.getMessage() == "migrating samples to the clustered table"]
        assert [r.moved for r in progress] == [700, 1400, 2100, 2400]  # type: ignore[attr-defined]
        assert {r.total for r in progress} == {2400}  # type: ignore[attr-defined]

        for user in USERS:
            mine = [row for row in rows if row[1] == user]
            want = sorted((expected(row) for row in mine),
                          key=lambda s: (s.timestamp_utc, s.sample_type, s.source, s.dedup_id))
            got = await all_samples(store, user, page=97)
            assert got == want
            assert len(got) == 800
        assert await store.count_samples() == sum(1 for row in rows if row[7] == 0)

        # Keyed as before: writing a migrated sample again updates it in place.
        first = rows[1]  # bo's, n = 1
        again = SampleRecord(first[1], first[2], first[3], first[4],
                             START + timedelta(hours=5), {"value": "new"}, resource="data",
                             vendor_record_id=first[10], vendor_updated_at=datetime(2030, 1, 1, tzinfo=UTC))
        result = await store.upsert_samples([again])
        assert result.written == 1
        mine = await all_samples(store, "bo", page=1000)
        assert len(mine) == 800
        moved = [s for s in mine if s.dedup_id == first[4]]
        assert [s.payload["value"] for s in moved] == ["new"] and moved[0].timestamp_utc == START + timedelta(hours=5)
    finally:
        await store.close()

    reopened = await open_store(url, tmp_path, secret_keys=[TEST_SECRET])
    try:
        versions = await _versions(adapter, url)
        assert versions == sorted({m.version for m in load_migrations()}) and 10 in versions
    finally:
        await reopened.close()


async def test_concurrent_first_starts_migrate_once(adapter: str, tmp_path: Path) -> None:
    rows = old_rows(600)
    url = store_url(adapter, tmp_path)
    build_old_database(adapter, url, rows)
    stores = await asyncio.gather(*(open_store(url, tmp_path, secret_keys=[TEST_SECRET]) for _ in range(3)))
    try:
        counts = [len(await all_samples(s, "ana", page=1000)) for s in stores]
        assert counts == [200, 200, 200]
    finally:
        for opened in stores:
            await opened.close()
    assert (await _versions(adapter, url)).count(10) == 1


async def test_a_fresh_sqlite_database_keeps_samples_in_key_order(tmp_path: Path) -> None:
    store = await open_store(None, tmp_path, secret_keys=[TEST_SECRET])
    await store.close()
    with sqlite3.connect(tmp_path / "engine.db") as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'samples'").fetchone()[0]
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(samples)")}
    assert sql.rstrip().endswith("WITHOUT ROWID")
    assert {"samples_by_dedup", "samples_by_user_time", "samples_by_vendor_record",
            "samples_by_raw_record"} <= indexes


async def _versions(adapter: str, url: str) -> list[int]:
    if adapter == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return sorted(row[0] for row in conn.execute("SELECT version FROM schema_version"))
    import psycopg

    with psycopg.connect(url) as conn:
        return sorted(row[0] for row in conn.execute("SELECT version FROM schema_version"))
