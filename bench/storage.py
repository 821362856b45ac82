"""Benchmark 10: the default store as it grows (embedded SQLite, raw archive and outbox on).

* growth curve: the durable write rate of a pull (`SyncService.run_window` from the local page
  server: 25 WHOOP v2 sleeps a page, random UUID ids, three samples each: fetch -> map ->
  archive -> upsert, each write committed) into an empty store and into stores already holding
  10k, 100k and 1M samples; the sizes take turns up and down, each run on a fresh copy;
* bytes per sample on disk: the samples table and its indexes (SQLite's `dbstat`), the raw
  archive and the outbox apart, in the 2M-sample store;
* read latency: one page of 1,000 heart-rate samples of one user from a random instant, in the
  2M-sample store, through `store.list_samples` and through `GET /v1/users/{id}/samples` on the
  ASGI app, beside the plain SQL query for the same rows (payload JSON decoded); each contender
  reads its own random pages, interleaved, so none reads what another has just cached.

The prefilled stores (200 people, day by day: WHOOP sleep, recovery, workouts with UUID ids and
Oura heart rate; bench/storage_fill.py) are built once through the store's API and cached under
bench/.cache (BENCH_CACHE_DIR), keyed by the schema version and the generator's; every measured
run opens a copy, so the cache is never modified. ``python -m bench.storage --build`` builds
the cache alone (about 13 minutes the first time on 2 cores, 5 GB; a cached run takes 3).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2

from bench.common import VENDORS, Row, fmt_rate, percentile
from bench.pull import page_server, whoop_spec
from bench.storage_fill import (
    START,
    BuiltStore,
    Shape,
    cached_stores,
    copy_store,
    people,
)
from engine.engine import Engine, Settings
from engine.fetch.fetcher import Caller
from engine.fetch.windows import TimeWindow
from engine.instants import iso_utc

WRITER = "user-0000"  # a prefilled person: a pull adds to someone's history
API_KEY = "storage-bench-api-key-0123456789abcdef"
SAMPLES_PER_RECORD = 3
GROWTH_GOAL = 0.8
READ_GOAL_MS = 20.0
BYTES_GOAL = 300.0
# The page server ignores the window; the pull asks for one month as the worker's windows do.
WINDOW = TimeWindow(datetime(2024, 5, 2, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))


def decode_payload(text: str) -> object:
    """How the plain query decodes a stored payload: its JSON, after the packed form's one-character
    mark (engine.store.sample_payload). The columns the packed form leaves out are not put back:
    the plain query does the least a reader of this table must."""
    return json.loads(text[1:] if text.startswith("\x01") else text)


PLAIN_SQL = ("SELECT payload FROM samples WHERE user_id = ? AND sample_type = ? AND timestamp_us >= ? "
             "ORDER BY timestamp_us LIMIT ?")


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]  # prefilled stores the pull writes into (besides the empty one)
    read_size: int
    write_records: int
    repeats: int
    pages: int
    page: int
    shape: Shape = field(default_factory=Shape)
    warmup: int = 5


FULL = Plan((10_000, 100_000, 1_000_000), 2_000_000, 20_000, 3, 200, 1000)
SMOKE = Plan((300, 1_500), 3_000, 100, 1, 4, 50, Shape(users=4), warmup=1)


def _settings(data_dir: Path, **extra: str) -> Settings:
    """The default configuration: nothing set but where the data and the specs are."""
    return Settings.from_env({"ENGINE_DATA_DIR": str(data_dir), "ENGINE_VENDORS_DIR": str(VENDORS), **extra})


def _caller(user_id: str) -> Caller:
    async def token(*, force_refresh: bool = False) -> str:
        return "bench-token"

    return Caller(user_id=user_id, vendor_user_id=None, token=token)


# --------------------------------------------------------------------------- growth


async def pull_once(data_dir: Path, base_url: str) -> tuple[float, int, int]:
    """Seconds, records and samples of one pull window into the store in `data_dir`."""
    spec = whoop_spec(base_url)
    async with Engine(_settings(data_dir), specs={"whoop": spec}) as engine:
        assert engine.settings.raw_archive and engine.store.outbox_enabled, "not the default configuration"
        started = time.perf_counter()
        result = await engine.sync.run_window(spec, WRITER, "sleep", WINDOW, caller=_caller(WRITER),
                                              advance_cursor=False)
        seconds = time.perf_counter() - started
    return seconds, result.records, result.written


def growth(plan: Plan, cache: Path, stores: dict[int, BuiltStore]) -> dict[int, list[float]]:
    """Records/s of each run by prefilled size (0: the empty store), sizes up then down."""
    order = [0, *plan.sizes]
    rates: dict[int, list[float]] = {size: [] for size in order}
    with page_server(plan.write_records, 25, ("--uuid-ids", "--every-sample")) as base_url:
        for repeat in range(plan.repeats):
            for size in order if repeat % 2 == 0 else order[::-1]:
                with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
                    data_dir = Path(tmp) / "data"
                    if size:
                        copy_store(cache, stores[size], data_dir)
                    seconds, records, written = asyncio.run(pull_once(data_dir, base_url))
                if records != plan.write_records or written != SAMPLES_PER_RECORD * records:
                    raise AssertionError(f"the pull stored {records} records / {written} samples, "
                                         f"expected {plan.write_records} / {SAMPLES_PER_RECORD * plan.write_records}")
                rates[size].append(records / seconds)
    return rates


# --------------------------------------------------------------------------- reads


@dataclass
class Reads:
    store_ms: list[float] = field(default_factory=list)
    api_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)


def _pages(plan: Plan, built: BuiltStore, count: int, seed: int) -> list[tuple[str, int]]:
    """Random (user, day) starts with at least a full page of heart rate after them."""
    days_needed = -(-plan.page // plan.shape.hr_per_day) + 2
    if built.days <= days_needed:
        raise AssertionError(f"the {built.samples:,}-sample store spans {built.days} days: too few for a page")
    users = [p.user_id for p in people(plan.shape)]
    rng = random.Random(seed)
    return [(rng.choice(users), rng.randrange(0, built.days - days_needed)) for _ in range(count)]


async def reads(plan: Plan, data_dir: Path, built: BuiltStore) -> Reads:
    out = Reads()
    total = plan.warmup + plan.pages
    starts = {name: _pages(plan, built, total, seed) for seed, name in enumerate(("store", "api", "sql"))}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    from engine.api.app import create_app

    engine = Engine(_settings(data_dir, ENGINE_API_KEY=API_KEY, ENGINE_NO_WORKER="1"))
    app = create_app(engine)
    # The app's lifespan opens the engine as `engine serve` does (and sets up the collector as
    # it does); the transport below does not run it.
    async with app.router.lifespan_context(app):
        store = engine.store
        transport = httpx2.ASGITransport(app=app)
        plain = sqlite3.connect(data_dir / "engine.db")
        try:
            async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                for index in range(total):
                    user, day = starts["store"][index]
                    started = time.perf_counter()
                    page = await store.list_samples(user, sample_types=["heart_rate"],
                                                    since=START + timedelta(days=day),
                                                    include_deleted=False, limit=plan.page)
                    store_ms = (time.perf_counter() - started) * 1000
                    user, day = starts["api"][index]
                    query = {"type": "heart_rate", "since": iso_utc(START + timedelta(days=day)),
                             "limit": str(plan.page)}
                    started = time.perf_counter()
                    response = await client.get(f"/v1/users/{user}/samples", params=query, headers=headers)
                    api_ms = (time.perf_counter() - started) * 1000
                    user, day = starts["sql"][index]
                    since_us = int((START + timedelta(days=day)).timestamp() * 1_000_000)
                    started = time.perf_counter()
                    rows = [decode_payload(row[0]) for row in plain.execute(
                        PLAIN_SQL, (user, "heart_rate", since_us, plan.page))]
                    sql_ms = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        raise AssertionError(f"the API answered {response.status_code}: {response.text[:200]}")
                    counts = (len(page.samples), len(response.json()["samples"]), len(rows))
                    if counts != (plan.page,) * 3:
                        raise AssertionError(f"pages of {counts} samples, expected {plan.page} each")
                    if index >= plan.warmup:
                        out.store_ms.append(store_ms)
                        out.api_ms.append(api_ms)
                        out.sql_ms.append(sql_ms)
        finally:
            plain.close()
    return out


# --------------------------------------------------------------------------- bytes


@dataclass
class Footprint:
    samples: int
    raw_records: int
    by_table: dict[str, int]  # bytes of each table with its indexes
    by_btree: dict[str, int]  # bytes of each samples b-tree (table, indexes)
    file_bytes: int
    exact: bool  # False: no dbstat in this SQLite, whole-file size only


def footprint(database: Path) -> Footprint:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        samples = int(conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
        raw = int(conn.execute("SELECT COUNT(*) FROM raw_records").fetchone()[0])
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        file_bytes = page_size * int(conn.execute("PRAGMA page_count").fetchone()[0])
        owners = dict(conn.execute("SELECT name, tbl_name FROM sqlite_schema WHERE type IN ('table', 'index')"))
        try:
            sizes = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        except sqlite3.OperationalError:  # built without SQLITE_ENABLE_DBSTAT_VTAB
            return Footprint(samples, raw, {}, {}, file_bytes, False)
    by_table: dict[str, int] = {}
    by_btree: dict[str, int] = {}
    for name, size in sizes:
        table = owners.get(name, name)
        by_table[table] = by_table.get(table, 0) + int(size)
        if table == "samples":
            by_btree[name] = int(size)
    return Footprint(samples, raw, by_table, by_btree, file_bytes, True)


# --------------------------------------------------------------------------- rows


def _latency(values: list[float]) -> str:
    return f"p50 {statistics.median(values):,.1f} ms, p99 {percentile(values, 0.99):,.1f} ms"


def growth_rows(plan: Plan, rates: dict[int, list[float]], stores: dict[int, BuiltStore],
                smoke: bool) -> list[Row]:
    label = f"10 storage: durable pull of {plan.write_records:,} WHOOP sleeps (25/page, UUID ids, 3 samples each)"
    empty = max(rates[0])

    def runs(size: int) -> str:
        return ", ".join(fmt_rate(r) for r in rates[size])

    rows = [Row(f"{label}, empty store", f"{fmt_rate(empty)} rec/s (best of runs {runs(0)})", "-", "1.00x",
                "the curve's start", None)]
    for size in plan.sizes:
        best = max(rates[size])
        judged = size == max(plan.sizes)
        ratio = best / empty
        rows.append(Row(
            f"{label}, store holding {stores[size].samples:,} samples",
            f"{fmt_rate(best)} rec/s (best of runs {runs(size)})", f"empty store {fmt_rate(empty)} rec/s",
            f"{ratio:.2f}x", f">= {GROWTH_GOAL}x the empty store" if judged else "reported (the curve)",
            None if smoke or not judged else ratio >= GROWTH_GOAL))
    return rows


def read_rows(plan: Plan, result: Reads, built: BuiltStore, smoke: bool) -> list[Row]:
    label = (f"10 storage: read one page of {plan.page:,} heart_rate samples of one user, "
             f"store of {built.samples:,} samples, {plan.pages} random pages")
    plain = f"plain SQL + json.loads {_latency(result.sql_ms)}"
    rows = []
    for how, values in (("store.list_samples", result.store_ms),
                        ("GET /v1/users/{id}/samples (ASGI)", result.api_ms)):
        p99 = percentile(values, 0.99)
        rows.append(Row(f"{label}, {how}", _latency(values), plain,
                        f"p99 {p99 / percentile(result.sql_ms, 0.99):.1f}x plain", f"p99 <= {READ_GOAL_MS:.0f} ms",
                        None if smoke else p99 <= READ_GOAL_MS))
    return rows


def bytes_row(found: Footprint, smoke: bool) -> Row:
    label = f"10 storage: bytes on disk per sample, store of {found.samples:,} samples"
    if not found.exact:
        per = found.file_bytes / found.samples
        return Row(label, f"whole file {per:,.0f} B/sample (no dbstat in this SQLite)", "-", "-",
                   f"<= {BYTES_GOAL:.0f} B/sample (stretch)", None)
    samples = found.by_table.get("samples", 0)
    per = samples / found.samples
    parts = ", ".join(f"{name} {size / found.samples:,.0f}"
                      for name, size in sorted(found.by_btree.items(), key=lambda item: -item[1]))
    raw = found.by_table.get("raw_records", 0)
    outbox = found.by_table.get("outbox_events", 0)
    return Row(label, f"{per:,.0f} B/sample: samples table and indexes ({parts})",
               f"raw archive {raw / found.samples:,.0f} B/sample ({raw / max(found.raw_records, 1):,.0f} B "
               f"per raw record, {found.raw_records:,}); outbox {outbox / found.samples:,.0f}; "
               f"whole file {found.file_bytes / found.samples:,.0f} B/sample",
               "-", f"<= {BYTES_GOAL:.0f} B/sample (stretch)", None if smoke else per <= BYTES_GOAL)


# --------------------------------------------------------------------------- run


def _measure(plan: Plan, root: Path | None, smoke: bool) -> list[Row]:
    targets = [*plan.sizes, plan.read_size]
    info, cache, fresh = cached_stores(targets, plan.shape, root=root, log=not smoke)
    stores = {s.target: s for s in info.stores}
    if fresh:
        print(f"# storage: prefilled stores built in {info.build_s:.0f}s ({cache})", file=sys.stderr, flush=True)
    rates = growth(plan, cache, stores)
    read_store = stores[plan.read_size]
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        data_dir = Path(tmp) / "data"
        database = copy_store(cache, read_store, data_dir)
        result = asyncio.run(reads(plan, data_dir, read_store))
        found = footprint(database)
    return [*growth_rows(plan, rates, stores, smoke), *read_rows(plan, result, read_store, smoke),
            bytes_row(found, smoke)]


def run(smoke: bool = False) -> list[Row]:
    if smoke:  # a throwaway cache: the smoke never touches the real one
        with tempfile.TemporaryDirectory(prefix="bench-storage-cache-") as root:
            return _measure(SMOKE, Path(root), smoke=True)
    return _measure(FULL, None, smoke=False)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storage")
    parser.add_argument("--build", action="store_true", help="build the prefilled stores' cache only")
    args = parser.parse_args()
    if args.build:
        info, cache, fresh = cached_stores([*FULL.sizes, FULL.read_size], FULL.shape, log=True)
        print(f"{'built' if fresh else 'already cached'}: {cache} "
              + ", ".join(f"{s.samples:,} samples" for s in info.stores)
              + (f" in {info.build_s:.0f}s" if fresh else ""))
        return
    for row in run():
        print(row.markdown(), end="")


if __name__ == "__main__":
    main()
