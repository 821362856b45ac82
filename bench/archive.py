"""Benchmark 6: what the raw archive costs and how fast a re-map runs (all on SQLite, loopback).

* pull with store, archive on vs off: the worker's window path (fetch -> map -> upsert, and with
  the archive the record versions) from the local WHOOP page server, the two taking turns;
* webhook ingest, archive on vs off: one record per call of `SyncService.store_records`, as a
  webhook's fetched record or an authenticated push is stored (the HTTP route itself only
  verifies and enqueues: it archives nothing);
* re-map throughput: every archived WHOOP sleep record re-mapped with a spec whose unit changed
  (every sleep session changes: written back) and then again with nothing to change, against
  the same spec's mapping alone over the same records in memory;
* bytes per archived WHOOP sleep record: zstd as kept, against zlib (gzip's codec) of the same
  canonical bytes and the canonical JSON itself.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from bench import data
from bench.common import VENDORS, Row, fmt_rate
from bench.pull import _token_caller, _window, page_server, whoop_spec
from engine.archive.keeping import Arrival, canonical, compress
from engine.archive.remap import Remapper
from engine.engine import Engine, Settings
from engine.mapping.compiler import compile_resource_mapper
from engine.spec.loader import load_spec
from engine.spec.model import Spec

USER = "bench-user"
COST_GOAL = 0.15
REMAP_GOAL = 20_000.0
WEBHOOK = Arrival("webhook")
_UNIT = ("awake_s: {path: score.stage_summary.total_awake_time_milli, unit: ms}",
         "awake_s: {path: score.stage_summary.total_awake_time_milli, unit: s}")


def _settings(data_dir: str, archive: bool) -> Settings:
    return Settings.from_env({"ENGINE_DATA_DIR": data_dir, "ENGINE_VENDORS_DIR": str(VENDORS),
                              "ENGINE_RAW_ARCHIVE": "on" if archive else "off"})


async def _pull(base_url: str, archive: bool) -> tuple[float, int]:
    spec = whoop_spec(base_url)
    with tempfile.TemporaryDirectory() as data_dir:
        async with Engine(_settings(data_dir, archive), specs={"whoop": spec}) as engine:
            started = time.perf_counter()
            result = await engine.sync.run_window(spec, USER, "sleep", _window(), caller=_token_caller(),
                                                  advance_cursor=False)
            return time.perf_counter() - started, result.records


async def _ingest(records: list[dict[str, Any]], archive: bool) -> float:
    spec = load_spec(VENDORS / "whoop.yaml", env={})
    with tempfile.TemporaryDirectory() as data_dir:
        async with Engine(_settings(data_dir, archive), specs={"whoop": spec}) as engine:
            service = engine.sync
            started = time.perf_counter()
            for record in records:
                await service.store_records(spec, "sleep", USER, [record], arrival=WEBHOOK)
            return time.perf_counter() - started


def _changed_spec(directory: Path) -> Spec:
    text = (VENDORS / "whoop.yaml").read_text()
    assert text.count(_UNIT[0]) == 1
    path = directory / "whoop.yaml"
    path.write_text(text.replace(*_UNIT))
    return load_spec(path, env={})


async def _remap(records: list[dict[str, Any]]) -> dict[str, float]:
    spec = load_spec(VENDORS / "whoop.yaml", env={})
    with tempfile.TemporaryDirectory() as data_dir:
        changed = _changed_spec(Path(data_dir))
        async with Engine(_settings(data_dir, True), specs={"whoop": spec}) as engine:
            for first in range(0, len(records), 1000):
                await engine.sync.store_records(spec, "sleep", USER, records[first:first + 1000],
                                                arrival=Arrival("backfill"))
            remapper = Remapper(engine.store, changed)
            started = time.perf_counter()
            applied = await remapper.run()
            applied_s = time.perf_counter() - started
            started = time.perf_counter()
            again = await remapper.run()
            again_s = time.perf_counter() - started
        with sqlite3.connect(Path(data_dir) / "engine.db") as db:
            stored, count = db.execute("SELECT SUM(LENGTH(body)), COUNT(*) FROM raw_records").fetchone()
    if applied.counts["records"] != len(records) or again.changes:
        raise AssertionError(f"remap saw {applied.counts['records']} of {len(records)} records, "
                             f"then {again.changes} changes")
    mapper = compile_resource_mapper(changed, "sleep")
    mapping_s = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        mapper.map_records(records, USER)
        mapping_s = min(mapping_s, time.perf_counter() - started)
    bodies = [canonical(r) for r in records[:2000]]
    return {"applied": len(records) / applied_s, "again": len(records) / again_s,
            "mapping": len(records) / mapping_s, "changed": float(applied.counts["changed"]),
            "zstd": stored / count, "each_zstd": sum(len(compress(b)) for b in bodies) / len(bodies),
            "zlib": sum(len(zlib.compress(b, 6)) for b in bodies) / len(bodies),
            "json": sum(len(b) for b in bodies) / len(bodies)}


def _cost_row(name: str, on_s: float, off_s: float, n: int, unit: str) -> Row:
    cost = on_s / off_s - 1
    return Row(name, f"archive on {fmt_rate(n / on_s)} {unit}", f"archive off {fmt_rate(n / off_s)} {unit}",
               f"{cost:+.1%} cost", f"<= +{COST_GOAL:.0%}", cost <= COST_GOAL)


def run(smoke: bool = False) -> list[Row]:
    pulled = 200 if smoke else 30_000
    pushed = 50 if smoke else 3_000
    archived = 500 if smoke else 50_000
    rounds = 1 if smoke else 3
    on_s = off_s = float("inf")
    with page_server(pulled, 25) as base_url:
        for _ in range(rounds):  # taking turns: a load swing hits both
            seconds, n_on = asyncio.run(_pull(base_url, True))
            on_s = min(on_s, seconds)
            seconds, n_off = asyncio.run(_pull(base_url, False))
            off_s = min(off_s, seconds)
    if n_on != pulled or n_off != pulled:
        raise AssertionError(f"pulled {n_on} and {n_off} of {pulled} records")
    records = data.whoop_sleep_page(0, max(pushed, archived))["records"]
    in_s = out_s = float("inf")
    for _ in range(rounds):
        in_s = min(in_s, asyncio.run(_ingest(records[:pushed], True)))
        out_s = min(out_s, asyncio.run(_ingest(records[:pushed], False)))
    remap = asyncio.run(_remap(records[:archived]))
    return [
        _cost_row(f"6 archive: pull {pulled:,} WHOOP sleeps, 25/page, with SQLite store", on_s, off_s,
                  pulled, "rec/s"),
        _cost_row(f"6 archive: webhook ingest, {pushed:,} records one per call", in_s, out_s, pushed, "rec/s"),
        Row(f"6 archive: remap {archived:,} archived WHOOP sleeps, unit changed, SQLite",
            f"{fmt_rate(remap['applied'])} rec/s ({remap['changed']:,.0f} samples changed); "
            f"nothing to change: {fmt_rate(remap['again'])} rec/s",
            f"mapping alone in memory {fmt_rate(remap['mapping'])} rec/s",
            f"{remap['applied'] / remap['mapping']:.2f}x", ">= 20k rec/s and >= 0.5x mapping",
            remap["applied"] >= REMAP_GOAL and remap["applied"] >= 0.5 * remap["mapping"]),
        Row("6 archive: bytes per archived WHOOP sleep record",
            f"{remap['zstd']:.0f} B zstd-3 as stored", f"{remap['json']:.0f} B canonical JSON; "
            f"zlib-6 {remap['zlib']:.0f} B", f"{remap['zstd'] / remap['json']:.2f}x", "reported", None),
    ]
