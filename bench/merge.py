"""Benchmark 7: the merged view's cost (SQLite).

One user with three sources over a year: minute heart rate from each, daily steps from two,
nightly sleep from two, daily workouts from two (the same run seen twice). Measured in the same
run, over the same ten 30-day windows:

* the plain read: every sample of the window, page by page (1000), rendered as the API does;
* the merged read: the merged view of the window, page by page (1000), rendered;
* the cost of one new day: a day of all sources arrives, then its window's merged view is read
  (the whole recomputation: nothing is cached), against the plain read of that day.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import Row, percentile
from bench.storage_fill import cache_root, copy_database, schema_version
from engine.instants import iso_utc
from engine.merge.rules import default_rules
from engine.merge.view import MergedView
from engine.store import open_store
from engine.store.port import SampleRecord, Store
from engine.store.sample_document import sample_document

USER = "bench-user"
START = datetime(2025, 1, 1, tzinfo=UTC)
GOAL = 2.0
HR_SOURCES = ("garmin", "oura", "whoop")
PAGE = 1000
SECRET_KEY = "bench-secret-0123456789-abcdefghijklmnop"
CACHE_VERSION = 1  # bump when the samples below change: the cached store is built anew


def _record(source: str, sample_type: str, start: datetime, end: datetime | None, rid: str,
            **values: float | str) -> SampleRecord:
    body: dict = {"user_id": USER, "source": source, "sample_type": sample_type,
                  "timestamp_utc": iso_utc(start), "tz_offset_min": 0, "local_date": start.date().isoformat(),
                  "provenance": {"resource": sample_type, "vendor_record_id": rid, "vendor_updated_at": None},
                  "dedup_key": f"{USER}|{source}|{sample_type}|{sample_type}|{rid}", **values}
    if end is not None:
        body["end_utc"] = iso_utc(end)
    return SampleRecord.from_sample(body, body["dedup_key"])


def day_records(day: int, minutes: int = 1440) -> list[SampleRecord]:
    midnight = START + timedelta(days=day)
    rows = [_record(source, "heart_rate", midnight + timedelta(minutes=m, seconds=7 * i), None,
                    f"{day}-{m}", bpm=55 + (m * 7 + i * 3) % 60)
            for i, source in enumerate(HR_SOURCES) for m in range(minutes)]
    end = midnight + timedelta(days=1)
    rows += [_record("garmin", "steps", midnight, end, f"s{day}", count=9000 + day % 500),
             _record("oura", "steps", midnight, end, f"s{day}", count=8700 + day % 300),
             _record("oura", "sleep_session", midnight - timedelta(hours=1), midnight + timedelta(hours=7),
                     f"n{day}", asleep_s=25200),
             _record("whoop", "sleep_session", midnight - timedelta(minutes=50),
                     midnight + timedelta(hours=7, minutes=10), f"n{day}", asleep_s=24600),
             _record("garmin", "workout", midnight + timedelta(hours=18), midnight + timedelta(hours=18, minutes=45),
                     f"w{day}", activity="RUNNING", distance_m=8000, kcal=520),
             _record("whoop", "workout", midnight + timedelta(hours=18, seconds=40),
                     midnight + timedelta(hours=18, minutes=44), f"w{day}", activity="running", kcal=500)]
    return rows


async def _load(store: Store, days: int, minutes: int) -> int:
    written = 0
    for day in range(days):
        rows = day_records(day, minutes)
        for first in range(0, len(rows), 5000):
            written += (await store.upsert_samples(rows[first:first + 5000])).written
    return written


async def plain_read(store: Store, since: datetime, until: datetime) -> int:
    count, cursor = 0, None
    while True:
        page = await store.list_samples(USER, since=since, until=until, include_deleted=False,
                                        limit=PAGE, cursor=cursor)
        count += len([sample_document(s.payload, s.deleted, s.provenance) for s in page.samples])
        if (cursor := page.next_cursor) is None:
            return count


async def merged_read(view: MergedView, since: datetime, until: datetime) -> int:
    count, cursor = 0, None
    while True:
        page = await view.page(USER, since=since, until=until, limit=PAGE, cursor=cursor)
        count += len([m.document() for m in page.samples])
        if (cursor := page.next_cursor) is None:
            return count


async def _timed(read) -> tuple[float, int]:
    started = time.perf_counter()
    count = await read()
    return time.perf_counter() - started, count


async def _open(directory: Path) -> Store:
    return await open_store(f"sqlite:///{directory / 'engine.db'}", directory, secret_keys=[SECRET_KEY])


async def _prefilled(directory: Path, days: int, minutes: int, *, cache: bool) -> int:
    """`directory/engine.db` holding the samples of `days` days: a copy of the cached store (built
    once under the bench cache, keyed by the schema version and CACHE_VERSION; other keys' caches
    removed), or filled here when `cache` is off. Returns the samples written."""
    if not cache:
        store = await _open(directory)
        try:
            return await _load(store, days, minutes)
        finally:
            await store.close()
    root = cache_root()
    built = root / f"merge-schema{schema_version()}-gen{CACHE_VERSION}-d{days}-m{minutes}"
    if not (built / "count").exists():
        building = built.with_name(built.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True, mode=0o700)
        store = await _open(building)
        try:
            loaded = await _load(store, days, minutes)
        finally:
            await store.close()
        (building / "count").write_text(str(loaded))
        for other in root.glob("merge-*"):
            if other.is_dir() and other != building:
                shutil.rmtree(other, ignore_errors=True)
        building.rename(built)
    copy_database(built / "engine.db", directory)
    return int((built / "count").read_text())


async def _run(smoke: bool) -> list[Row]:
    days, minutes, windows, span = (4, 60, 2, 2) if smoke else (365, 1440, 10, 30)
    with tempfile.TemporaryDirectory() as directory:
        loaded = await _prefilled(Path(directory), days, minutes, cache=not smoke)
        store = await _open(Path(directory))
        try:
            view = MergedView(store, default_rules())
            rng = random.Random(7)
            starts = [START + timedelta(days=rng.randrange(0, days - span)) for _ in range(windows)]
            plain, merged, counts = [], [], (0, 0)
            for since in starts:  # the two take turns, so load drifts hit both alike
                until = since + timedelta(days=span)
                p, plain_count = await _timed(lambda: plain_read(store, since, until))  # noqa: B023
                m, merged_count = await _timed(lambda: merged_read(view, since, until))  # noqa: B023
                plain.append(p)
                merged.append(m)
                counts = (plain_count, merged_count)
            await store.upsert_samples(day_records(days, minutes))
            new_day = START + timedelta(days=days)
            recompute, _ = await _timed(lambda: merged_read(view, new_day, new_day + timedelta(days=1)))
            plain_day, _ = await _timed(lambda: plain_read(store, new_day, new_day + timedelta(days=1)))
        finally:
            await store.close()
    ratio = statistics.median(merged) / statistics.median(plain)
    label = f"7 merged view: {loaded:,} samples, 3 sources, {days} days; {span}-day reads x {windows}"
    rows = [Row(label,
                f"merged p50 {statistics.median(merged) * 1000:,.0f} ms, p99 {percentile(merged, 0.99) * 1000:,.0f} ms "
                f"({counts[1]:,} merged samples)",
                f"plain p50 {statistics.median(plain) * 1000:,.0f} ms, p99 {percentile(plain, 0.99) * 1000:,.0f} ms "
                f"({counts[0]:,} samples)",
                f"{ratio:.2f}x", f"<= {GOAL:.0f}x the plain read", None if smoke else ratio <= GOAL),
            Row("7 merged view: one new day arrives, its window recomputed",
                f"{recompute * 1000:,.0f} ms", f"plain read of the day {plain_day * 1000:,.0f} ms",
                f"{recompute / plain_day:.2f}x", "reported (no full scan)", None)]
    return rows


def run(smoke: bool = False) -> list[Row]:
    return asyncio.run(_run(smoke))
