"""Prefilled SQLite stores for the storage benchmark, built once and cached between runs.

The data: `users` people, each day of their life (rounds of every user's day, oldest first, as
a live store fills) a WHOOP sleep (3 samples), a recovery (5), a workout every other day (2) and
Oura heart-rate spot readings (one sample each): 27 samples a person-day at the default shape.
Every WHOOP id is a random version-4 UUID, as WHOOP's are. Records go through the shipped specs'
compiled mappings and the raw archiver (`ResourceArchiver.map_linked`, as a pull maps them) and
into the store through its own API only: `archive_raw`, `upsert_samples` in large batches,
`dispatch_outbox` and `prune_outbox` (outbox on, 14 days kept, as a running engine keeps it) -
never SQL of its own, so the stores follow whatever the schema becomes. The build alone runs
with `synchronous=normal`; the measured runs open copies in the default configuration.

A cache holds one file per size, under a directory named by the schema version (the highest
migration) and `GENERATOR_VERSION`: a new migration or a change of the data here builds anew
(and drops the caches of other keys). Files are written under a temporary name and renamed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import data
from bench.common import ROOT, VENDORS
from engine.archive.keeping import Arrival, ResourceArchiver, compressed
from engine.mapping.compiler import ResourceMapper, compile_resource_mapper
from engine.spec.loader import load_spec
from engine.store import open_store
from engine.store.migrate import load_migrations
from engine.store.port import RawVersion, SampleRecord, Store
from engine.store.sql.outbox import DEFAULT_RETENTION_S

# Bump when the generated data changes (shape, mix, ids): cached stores are then rebuilt.
GENERATOR_VERSION = 1
START = datetime(2024, 1, 1, tzinfo=UTC)
DB_FILE = "engine.db"
BUILD_SECRET = "storage-bench-build-key-0123456789abcdef"
FLUSH_ROWS = 20_000
_OFFSETS = ("-05:00", "-08:00", "+01:00", "+05:30", "+00:00", "-03:00", "+09:00", "-04:00")
_SPORTS = ("running", "cycling", "functional-fitness", "swimming", "walking", "yoga")
_HR_CONTEXTS = ("awake", "rest", "session", "workout", "live")
_SLEEP_VARIANTS = [i for i in range(400) if data.gives_every_sample(i)]
POLL = Arrival("poll")


@dataclass(frozen=True)
class Shape:
    users: int = 200
    hr_per_day: int = 6
    seed: int = 20261202


def cache_root() -> Path:
    """BENCH_CACHE_DIR, else bench/.cache (ignored by git)."""
    return Path(os.environ.get("BENCH_CACHE_DIR") or ROOT / "bench" / ".cache")


def schema_version() -> int:
    return max(migration.version for migration in load_migrations())


def cache_key(shape: Shape) -> str:
    return f"storage-schema{schema_version()}-gen{GENERATOR_VERSION}-u{shape.users}-hr{shape.hr_per_day}"


# --------------------------------------------------------------------------- records


def _iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class Person:
    user_id: str
    offset: str
    whoop_user: int

    @property
    def offset_hours(self) -> float:
        sign = -1 if self.offset[0] == "-" else 1
        return sign * (int(self.offset[1:3]) + int(self.offset[4:6]) / 60)


def people(shape: Shape) -> list[Person]:
    return [Person(f"user-{i:04d}", _OFFSETS[i % len(_OFFSETS)], 20_000 + i) for i in range(shape.users)]


def person_day(person: Person, day: int, rng: random.Random, shape: Shape) -> dict[str, list[dict[str, Any]]]:
    """One person's records of one day, by resource ("whoop/sleep", "oura/heartrate", …)."""
    local_midnight = START + timedelta(days=day) - timedelta(hours=person.offset_hours)
    bed = local_midnight - timedelta(hours=1, minutes=rng.randrange(0, 90))
    sleep = data.whoop_sleep(rng.choice(_SLEEP_VARIANTS))
    in_bed_ms = sleep["score"]["stage_summary"]["total_in_bed_time_milli"]
    wake = bed + timedelta(milliseconds=in_bed_ms)
    sleep_id = _uuid(rng)
    cycle_id = 1_000_000 + person.whoop_user * 1000 + day
    sleep.update(id=sleep_id, cycle_id=cycle_id, user_id=person.whoop_user, start=_iso_ms(bed),
                 end=_iso_ms(wake), created_at=_iso_ms(wake + timedelta(minutes=5)),
                 updated_at=_iso_ms(wake + timedelta(minutes=9, milliseconds=rng.randrange(1000))),
                 timezone_offset=person.offset)
    recovery = {
        "cycle_id": cycle_id, "sleep_id": sleep_id, "user_id": person.whoop_user,
        "created_at": _iso_ms(wake + timedelta(minutes=20)),
        "updated_at": _iso_ms(wake + timedelta(minutes=21)), "score_state": "SCORED",
        "score": {"user_calibrating": False, "recovery_score": rng.randrange(5, 100),
                  "resting_heart_rate": rng.randrange(42, 75),
                  "hrv_rmssd_milli": round(rng.uniform(18, 120), 6),
                  "spo2_percentage": round(rng.uniform(93, 99.5), 4),
                  "skin_temp_celsius": round(rng.uniform(32.5, 35), 2)},
    }
    records: dict[str, list[dict[str, Any]]] = {"whoop/sleep": [sleep], "whoop/recovery": [recovery],
                                               "whoop/workout": []}
    if (day + int(person.user_id[-1])) % 2 == 0:
        start = local_midnight + timedelta(hours=17, minutes=rng.randrange(0, 120))
        minutes = rng.randrange(25, 95)
        records["whoop/workout"].append({
            "id": _uuid(rng), "v1_id": None, "user_id": person.whoop_user,
            "created_at": _iso_ms(start + timedelta(minutes=minutes + 10)),
            "updated_at": _iso_ms(start + timedelta(minutes=minutes + 12)),
            "start": _iso_ms(start), "end": _iso_ms(start + timedelta(minutes=minutes)),
            "timezone_offset": person.offset, "sport_name": rng.choice(_SPORTS), "score_state": "SCORED",
            "score": {"strain": round(rng.uniform(3, 18), 4), "average_heart_rate": rng.randrange(100, 160),
                      "max_heart_rate": rng.randrange(150, 195), "kilojoule": round(rng.uniform(600, 4000), 3),
                      "percent_recorded": 100, "distance_meter": round(rng.uniform(0, 20000), 1),
                      "altitude_gain_meter": round(rng.uniform(0, 200), 2), "altitude_change_meter": 0.0,
                      "zone_durations": {"zone_zero_milli": 0, "zone_one_milli": 60000}},
            "sport_id": 0})
    slot_s = 86400 // shape.hr_per_day
    midnight = START + timedelta(days=day)
    records["oura/heartrate"] = [
        {"bpm": rng.randrange(48, 170), "source": rng.choice(_HR_CONTEXTS),
         "timestamp": (midnight + timedelta(seconds=k * slot_s + rng.randrange(slot_s))).strftime(
             "%Y-%m-%dT%H:%M:%S+00:00")}
        for k in range(shape.hr_per_day)]
    return records


class DayMapper:
    """Maps people's days through the shipped WHOOP and Oura specs, linked to raw versions."""

    def __init__(self) -> None:
        whoop = load_spec(VENDORS / "whoop.yaml", env={})
        oura = load_spec(VENDORS / "oura.yaml", env={})
        self._parts: dict[str, tuple[ResourceMapper, ResourceArchiver]] = {}
        for spec, resource in ((whoop, "sleep"), (whoop, "recovery"), (whoop, "workout"),
                               (oura, "heartrate")):
            self._parts[f"{spec.id}/{resource}"] = (compile_resource_mapper(spec, resource),
                                                     ResourceArchiver(spec, resource))

    def map(self, user_id: str, records: dict[str, list[dict[str, Any]]],
            rows: list[SampleRecord], versions: list[RawVersion]) -> None:
        for name, batch in records.items():
            mapper, archiver = self._parts[name]
            mapped, warnings, first = archiver.map_linked(mapper, batch, user_id, POLL, versions)
            if warnings:
                raise AssertionError(f"{name} records did not map cleanly: {first}")
            rows.extend(mapped)


# --------------------------------------------------------------------------- building


@dataclass
class BuiltStore:
    target: int
    samples: int
    raw_records: int
    days: int
    path: str


@dataclass
class CacheInfo:
    key: str
    shape: dict[str, Any]
    stores: list[BuiltStore]
    build_s: float


def _build_url(path: Path) -> str:
    return f"sqlite:///{path}?synchronous=normal"  # durability relaxed for the build only


async def _open(path: Path) -> Store:
    return await open_store(_build_url(path), path.parent, secret_keys=[BUILD_SECRET])


async def _flush(store: Store, rows: list[SampleRecord], versions: list[RawVersion], at: float,
                 outbox: bool) -> None:
    store.configure_outbox(enabled=outbox)
    if versions:
        await store.archive_raw(compressed(versions), now=at)
    for first in range(0, len(rows), FLUSH_ROWS):
        await store.upsert_samples(rows[first:first + FLUSH_ROWS], now=at)
    while await store.dispatch_outbox(limit=2000, now=at):  # as the running engine's loop does
        pass


def _copy_database(source: Path, target: Path) -> None:
    """Copy a closed store's file (and a WAL, should one be left) under a temporary name, then
    rename: a reader never sees a half-written file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    wal = source.with_name(source.name + "-wal")
    if wal.exists() and wal.stat().st_size:
        shutil.copyfile(wal, partial.with_name(partial.name + "-wal"))
        os.replace(partial.with_name(partial.name + "-wal"), target.with_name(target.name + "-wal"))
    os.replace(partial, target)


class _Rounds:
    """Every user's next day, mapped: one round."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.rng = random.Random(shape.seed)
        self.mapper = DayMapper()
        self.persons = people(shape)
        self.day = 0

    def next(self) -> tuple[list[SampleRecord], list[RawVersion], float]:
        rows: list[SampleRecord] = []
        versions: list[RawVersion] = []
        for person in self.persons:
            self.mapper.map(person.user_id, person_day(person, self.day, self.rng, self.shape), rows, versions)
        self.day += 1
        return rows, versions, (START + timedelta(days=self.day, hours=6)).timestamp()


def _outbox_rounds(targets: list[int], per_round: int) -> set[int]:
    """The rounds whose events a store snapshot after round R still holds: those of the outbox's
    retention before it. Older rounds are written with the outbox off, which leaves the store as
    the engine's own pruning would (and the build three times faster)."""
    kept = round(DEFAULT_RETENTION_S / 86400)
    rounds: set[int] = set()
    for target in targets:
        last = -(-target // per_round) - 1
        rounds.update(range(max(0, last - kept), last + 1))
    return rounds


async def build(directory: Path, targets: Sequence[int], shape: Shape, *, log: bool = False) -> list[BuiltStore]:
    """Fill one store round by round and copy it to `directory/samples-<target>.db` the first
    time it holds at least each target (the count is what it really holds). A round is mapped
    while the one before is written."""
    wanted = sorted(set(targets))
    work = directory / "building"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, mode=0o700)  # the store wants its directory owner-only
    path = work / DB_FILE
    rounds = _Rounds(shape)
    built: list[BuiltStore] = []
    samples = raw = 0
    started = time.monotonic()
    store = await _open(path)
    writing: asyncio.Task[None] | None = None
    try:
        rows, versions, at = rounds.next()
        with_outbox = _outbox_rounds(wanted, len(rows))
        while wanted:
            writing = asyncio.ensure_future(_flush(store, rows, versions, at, rounds.day - 1 in with_outbox))
            samples, raw, written_at = samples + len(rows), raw + len(versions), at
            if samples < wanted[0]:
                rows, versions, at = rounds.next()
            await writing
            writing = None
            while wanted and samples >= wanted[0]:
                target = wanted.pop(0)
                await store.prune_outbox(now=written_at)
                await store.close()
                out = directory / f"samples-{target}.db"
                _copy_database(path, out)
                built.append(BuiltStore(target, samples, raw, rounds.day, out.name))
                if log:
                    print(f"# storage cache: {samples:,} samples ({rounds.day} days) after "
                          f"{time.monotonic() - started:.0f}s", flush=True)
                store = await _open(path)
                if wanted:
                    rows, versions, at = rounds.next()
    finally:
        if writing is not None:
            await asyncio.gather(writing, return_exceptions=True)
        await store.close()
        shutil.rmtree(work, ignore_errors=True)
    return built


def _read_info(directory: Path) -> CacheInfo | None:
    try:
        raw = json.loads((directory / "cache.json").read_text())
        stores = [BuiltStore(**s) for s in raw.pop("stores")]
        info = CacheInfo(stores=stores, **raw)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not all((directory / s.path).exists() for s in info.stores):
        return None
    return info


def cached_stores(targets: Sequence[int], shape: Shape, *, root: Path | None = None,
                  log: bool = False) -> tuple[CacheInfo, Path, bool]:
    """The cache holding a store of each target size, built first when missing; and whether it
    was built now. Caches of other keys under the same root are removed once it is built."""
    root = root or cache_root()
    key = cache_key(shape)
    directory = root / key
    info = _read_info(directory)
    if info is not None and {s.target for s in info.stores} >= set(targets):
        return info, directory, False
    started = time.monotonic()
    stores = asyncio.run(build(directory, targets, shape, log=log))
    info = CacheInfo(key, asdict(shape), stores, time.monotonic() - started)
    (directory / "cache.json").write_text(json.dumps(asdict(info), indent=1))
    for other in root.glob("storage-*"):
        if other.is_dir() and other.name != key:
            shutil.rmtree(other, ignore_errors=True)
    return info, directory, True


def copy_store(directory: Path, store: BuiltStore, data_dir: Path) -> Path:
    """A working copy of a cached store as `data_dir/engine.db` (the engine's default file)."""
    return copy_database(directory / store.path, data_dir)


def copy_database(database: Path, data_dir: Path) -> Path:
    """A working copy of a closed store's file (and its WAL, if any) as `data_dir/engine.db`."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # owner-only, as the engine wants
    target = data_dir / DB_FILE
    for source, copy in ((database, target),
                         (database.with_name(database.name + "-wal"), data_dir / (DB_FILE + "-wal"))):
        if source.exists():
            shutil.copyfile(source, copy)
            os.chmod(copy, 0o600)
            _sync_file(copy)
    return target


def _sync_file(path: Path) -> None:
    """Flush a copy to disk before it is measured: the kernel writing back gigabytes of a fresh
    copy meanwhile would stall the measured writes and reads."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
