"""Repairing samples stored under a mapping the specs have since corrected.

Polar continuous heart rate: `sample_time` is a local time of day. Stored before the connection had
a zone, each reading sat at the UTC reading of its wall-clock time; its dedup key holds that
instant, so the corrected samples a later read writes would sit beside it. `engine remap` re-derives
the archived records with the connection's zone history and removes what the mapping no longer
produces.

Berlin on 2026-03-29 (the night the clocks go forward at 02:00 CET): 01:30 CET is 00:30Z, 03:30
CEST is 01:30Z, 12:00 CEST is 10:00Z.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.archive.keeping import Arrival
from engine.archive.remap import Remapper
from engine.engine import Engine, Settings

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
USER = "u1"

DAY = {"date": "2026-03-29", "heart_rate_samples": [
    {"heart_rate": 60, "sample_time": "01:30:00"},
    {"heart_rate": 61, "sample_time": "03:30:00"},
    {"heart_rate": 62, "sample_time": "12:00:00"},
]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def settings(tmp_path: Path, **extra: str) -> Settings:
    return Settings.from_env({"ENGINE_VENDORS_DIR": str(ROOT / "vendors"), "ENGINE_ONLY": "polar,oura",
                              "ENGINE_DATA_DIR": str(tmp_path / "data"), "ENGINE_SECRET_KEY": "k" * 40,
                              "ENGINE_NO_WORKER": "1", **extra})


async def heart_rates(engine: Engine, *, live: bool = True) -> dict[str, tuple[float, str, int | None]]:
    page = await engine.store.list_samples(USER, sample_types=["heart_rate"], source="polar",
                                           include_deleted=not live, limit=100)
    return {s.payload["timestamp_utc"]: (s.payload["bpm"], s.payload["tz_source"], s.payload["tz_offset_min"])
            for s in page.samples if live or s.deleted}


async def test_remap_moves_continuous_heart_rate_stored_at_the_utc_reading(tmp_path):
    async with Engine(settings(tmp_path)) as engine:
        spec = engine.spec("polar")
        # Stored while the connection had no zone: the wall-clock times read as UTC.
        await engine.sync.store_records(spec, "continuous_heart_rate", USER, [DAY],
                                        arrival=Arrival("manual_sync"))
        assert await heart_rates(engine) == {
            "2026-03-29T01:30:00Z": (60, "unknown", None),
            "2026-03-29T03:30:00Z": (61, "unknown", None),
            "2026-03-29T12:00:00Z": (62, "unknown", None)}
        since = datetime(2026, 3, 1, tzinfo=UTC).timestamp()  # read off an exercise since then
        await engine.store.record_zone("polar", USER, zone="Europe/Berlin", origin="connection", since=since)

        report = await Remapper(engine.store, spec).run()

        assert (report.counts["added"], report.counts["changed"], report.counts["removed"]) == (2, 1, 2)
        assert await heart_rates(engine) == {
            "2026-03-29T00:30:00Z": (60, "connection", 60),
            "2026-03-29T01:30:00Z": (61, "connection", 120),
            "2026-03-29T10:00:00Z": (62, "connection", 120)}
        removed = await heart_rates(engine, live=False)
        assert set(removed) == {"2026-03-29T03:30:00Z", "2026-03-29T12:00:00Z"}
        again = await Remapper(engine.store, spec).run()
        assert again.changes == 0
