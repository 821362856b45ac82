"""Contract: connection zone history (travel), record identity (Garmin partial then final daily is
one record with the final values) and the repair of samples stored under superseded identities."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from engine.mapping.compiler import compile_resource_mapper
from engine.spec.loader import load_spec
from engine.store import SampleRecord, Store
from engine.webhooks.events import extract_events

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
GARMIN = load_spec(ROOT / "vendors" / "garmin.yaml", env={})
DAILY = json.loads((ROOT / "vendors" / "garmin" / "fixtures" / "daily.list.json").read_text())[0]


def _partial_and_final() -> tuple[dict, dict]:
    """A mid-day daily (239 s of data, summaryId ...-ef-6) and the day's final one (86 400 s,
    ...-15180-6): the same day (same start), different ids and totals."""
    final = copy.deepcopy(DAILY)
    partial = copy.deepcopy(DAILY)
    partial["summaryId"] = final["summaryId"].rsplit("-", 2)[0] + "-ef-6"
    partial["durationInSeconds"] = 239
    partial["steps"] = 1200
    partial["activeKilocalories"] = 95
    return partial, final


def _rows(record: dict) -> list[SampleRecord]:
    samples = compile_resource_mapper(GARMIN, "daily").map_records([record], "u1").samples
    return [SampleRecord.from_sample(s, s["dedup_key"]) for s in samples]


async def _live(store: Store, sample_type: str) -> list:
    page = await store.list_samples("u1", sample_types=[sample_type], include_deleted=False)
    return page.samples


async def test_zone_history_keeps_changes_only(store: Store):
    assert await store.record_zone("polar", "u1", zone="Europe/Helsinki", origin="app", since=1000.0)
    # The same zone again (a later observation) changes nothing.
    assert not await store.record_zone("polar", "u1", zone="Europe/Helsinki", origin="connection",
                                       since=2000.0)
    assert await store.record_zone("polar", "u1", zone="America/New_York", origin="connection",
                                   since=3000.0)
    # An older record observed later, before the first entry, with the first entry's zone: no row.
    assert not await store.record_zone("polar", "u1", zone="Europe/Helsinki", origin="connection",
                                       since=500.0)
    assert await store.zone_history("polar", "u1") == [
        (1000.0, "Europe/Helsinki", "app"), (3000.0, "America/New_York", "connection")]
    assert await store.zone_history("polar", "u2") == []
    counts = await store.delete_user_data("u1")
    assert counts.get("connection_zones") == 2
    assert await store.zone_history("polar", "u1") == []


async def test_partial_then_final_daily_is_one_record_with_the_final_values(store: Store):
    partial, final = _partial_and_final()
    await store.upsert_samples(_rows(partial))
    await store.upsert_samples(_rows(final))
    steps = await _live(store, "steps")
    assert [s.payload["count"] for s in steps] == [final["steps"]]
    # Hand-computed: the final day's end is start + 86 400 s.
    assert steps[0].payload["end_utc"] == "2024-05-31T22:00:00Z"
    assert steps[0].vendor_record_id == str(final["startTimeInSeconds"])
    energy = await _live(store, "active_energy")
    assert [s.payload["kcal"] for s in energy] == [final["activeKilocalories"]]


async def test_repair_tombstones_samples_stored_under_the_superseded_summary_ids(store: Store):
    """Before the identity fix, the partial and the final daily were stored under their
    summaryIds: steps were counted twice. A re-read under the new identity replaces both."""
    partial, final = _partial_and_final()
    old = []
    for record in (partial, final):
        for row in _rows(record):
            key = row.dedup_id.rsplit("|", 1)[0] + "|" + record["summaryId"]
            payload = dict(row.payload, dedup_key=key)
            payload["provenance"] = dict(payload["provenance"], vendor_record_id=record["summaryId"])
            if "|heart_rate|" in key:
                continue  # the series is keyed per timestamp; not needed for the day totals
            old.append(SampleRecord.from_sample(payload, key))
    await store.upsert_samples(old)
    assert sum(s.payload["count"] for s in await _live(store, "steps")) == partial["steps"] + final["steps"]
    reread = _rows(final)
    await store.upsert_samples(reread)
    tombstoned = await store.tombstone_superseded(reread)
    assert tombstoned >= 2
    steps = await _live(store, "steps")
    assert [s.payload["count"] for s in steps] == [final["steps"]]
    # Repeating the repair finds nothing more.
    assert await store.tombstone_superseded(reread) == 0


def test_a_repush_of_the_same_summary_id_with_new_data_is_a_new_event():
    push = {"dailies": [dict(DAILY, callbackURL=None)]}
    again = {"dailies": [dict(DAILY, callbackURL=None)]}
    updated = {"dailies": [dict(DAILY, callbackURL=None, steps=DAILY["steps"] + 500)]}
    assert GARMIN.webhooks is not None
    keys = [extract_events("garmin", GARMIN.webhooks.events, body)[0].key for body in (push, again, updated)]
    assert keys[0] == keys[1]  # a replay stays a replay
    assert keys[2] != keys[0]  # Garmin's update replaces: it gets through the inbox


def test_a_retired_vendor_names_when_it_ended_and_its_successor():
    from engine.auth.flows import retired_message

    fitbit = load_spec(ROOT / "vendors" / "fitbit.yaml", env={})
    assert retired_message(fitbit) == (
        "Fitbit (fitbit) is retired; its API was turned off on 2026-11-02; connect google_health instead")
