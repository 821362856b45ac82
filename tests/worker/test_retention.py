"""The scheduler runs the retention job: old inbox events, finished jobs and raw records past
ENGINE_RAW_RETENTION go, once per period however often it ticks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from engine.settings import Settings
from engine.store import InboxEvent, JobSpec, Store, open_store
from engine.store.port import RawVersion
from engine.worker.scheduler import PRUNE_EVERY_S, Scheduler
from tests.store.helpers import TEST_SECRET

DAY = 86400.0


@dataclass
class _Engine:
    store: Store
    settings: Settings
    specs: dict = field(default_factory=dict)

    def clock(self) -> float:
        return 0.0


def _version(key: str) -> RawVersion:
    return RawVersion(f"{key}.h", key, "acme", "u1", "sleep", f"id:{key}", "h", "poll", "fetched",
                      "zstd", b"x")


def test_a_tick_prunes_old_rows_once_per_period(tmp_path: Path) -> None:
    asyncio.run(_prunes(tmp_path))


async def _prunes(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/engine.db", tmp_path, secret_keys=[TEST_SECRET])
    try:
        await store.record_event_and_enqueue(InboxEvent("acme", "old", received_at=1.0), None)
        await store.archive_raw([_version("old")], now=1.0)
        await store.archive_raw([_version("new")], now=20 * DAY)
        engine = _Engine(store, Settings.from_env({"ENGINE_RAW_RETENTION": "10d"}))
        scheduler = Scheduler(engine)  # type: ignore[arg-type]
        await scheduler.tick(now=20 * DAY)
        assert await store.raw_head_ids(["old", "new"]) == {"new": "new.h"}
        await store.record_event_and_enqueue(InboxEvent("acme", "older", received_at=2.0), JobSpec("x"))
        await scheduler.tick(now=20 * DAY + PRUNE_EVERY_S / 2)  # within the period: nothing pruned
        assert (await store.record_event_and_enqueue(InboxEvent("acme", "older"), None)).created is False
        await scheduler.tick(now=20 * DAY + PRUNE_EVERY_S)
        assert (await store.record_event_and_enqueue(InboxEvent("acme", "older"), None)).created is True
        keep = _Engine(store, Settings.from_env({}))  # no retention: raw records stay
        await Scheduler(keep).tick(now=400 * DAY)  # type: ignore[arg-type]
        assert await store.raw_head_ids(["new"]) == {"new": "new.h"}
    finally:
        await store.close()
