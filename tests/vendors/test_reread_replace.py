"""Oura samples stored under the old mapping, repaired by a re-read that replaces
(`engine sync oura USER --since DATE --resources sleep,daily_activity --replace`).

Before the correction a rejected `rest` period became a sleep session with its HR/HRV samples, and
`equivalent_walking_distance` a `distance` sample of the day. Those samples were stored before the
raw archive existed, so `engine remap` has no record to re-derive them from: the re-read reads the
vendor's current records, and each record it returns keeps only the samples it maps to now.
Records the re-read did not return, other resources and other users keep theirs.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from engine.engine import Engine
from engine.store.port import SampleRecord
from sandbox.state import Record
from tests.vendors.harness import connect_user, drain, engine_app, engine_env, no_initial_sync

pytestmark = pytest.mark.anyio


def old_sample(user: str, resource: str, record_id: str, sample_type: str, at: datetime,
               values: dict) -> SampleRecord:
    """A sample as the old mapping stored it: no provenance, keyed on its record and start."""
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return SampleRecord.from_sample({
        "user_id": user, "source": "oura", "sample_type": sample_type, "timestamp_utc": stamp,
        "tz_offset_min": 0, "tz_source": "record", "local_date": stamp[:10], **values, "device": None,
        "provenance": {"resource": resource, "vendor_record_id": record_id, "vendor_updated_at": None},
        "deleted": False, "meta": {}}, f"old:{resource}:{record_id}:{sample_type}")


async def stored(engine: Engine, user: str) -> dict[str, bool]:
    """dedup id -> live, for the samples seeded under the old mapping."""
    page = await engine.store.list_samples(user, source="oura", limit=10_000)
    return {s.dedup_id: not s.deleted for s in page.samples if s.dedup_id.startswith("old:")}


async def test_a_replacing_reread_removes_rest_periods_and_walking_distance(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "oura"), clock) as (engine, client):
        no_initial_sync(engine, "oura")
        await connect_user(client, sim, "oura", "u1")
        await drain(engine)
        key = sim.state.default_user("oura").key
        now = datetime.fromtimestamp(clock(), UTC)
        since = now - timedelta(days=10)
        days = sorted(sim.state.raw_records("oura", "daily_activity", key), key=lambda r: r.start)
        inside = [r for r in days if r.start >= since.timestamp() + 86_400]
        outside = [r for r in days if r.start < since.timestamp() - 86_400]
        assert len(inside) >= 2 and outside, "the dataset must span both sides of the re-read"
        # A rest period Oura still lists (the mapping now yields nothing for it).
        night = sorted(sim.state.raw_records("oura", "sleep", key), key=lambda r: r.start)[-2]
        rest = copy.deepcopy(night.data)
        rest.update(id="rest-1", type="rest")
        sim.state.add_record("oura", "sleep", key, Record("rest-1", night.start, night.end, rest))
        at = datetime.fromtimestamp(night.start, UTC)
        day = datetime.fromtimestamp(inside[0].start, UTC)
        await engine.store.upsert_samples([
            old_sample("u1", "sleep", "rest-1", "sleep_session", at, {"is_nap": False}),
            old_sample("u1", "sleep", "rest-1", "resting_heart_rate", at, {"bpm": 58}),
            old_sample("u1", "daily_activity", inside[0].id, "distance", day, {"meters": 5100}),
            old_sample("u1", "daily_activity", inside[1].id, "distance", day + timedelta(days=1),
                       {"meters": 4800}),
            # Not re-read: a day before the window, and a record id of another resource.
            old_sample("u1", "daily_activity", outside[0].id, "distance",
                       datetime.fromtimestamp(outside[0].start, UTC), {"meters": 3900}),
            old_sample("u1", "workout", inside[0].id, "distance", day, {"meters": 1200}),
        ])

        plan = await engine.sync.plan("oura", "u1", since=since, until=now,
                                      resources=["sleep", "daily_activity"], replace=True)
        assert plan.sync.detail["replace"] is True
        await drain(engine)

        assert await stored(engine, "u1") == {
            "old:sleep:rest-1:sleep_session": False,
            "old:sleep:rest-1:resting_heart_rate": False,
            f"old:daily_activity:{inside[0].id}:distance": False,
            f"old:daily_activity:{inside[1].id}:distance": False,
            f"old:daily_activity:{outside[0].id}:distance": True,
            f"old:workout:{inside[0].id}:distance": True,
        }
        page = await engine.store.list_samples("u1", source="oura", include_deleted=False, limit=10_000)
        live = {(s.resource, s.vendor_record_id, s.sample_type) for s in page.samples}
        assert ("daily_activity", inside[0].id, "steps") in live  # what the record maps to now stays
        assert ("sleep", night.data["id"], "sleep_session") in live
        assert not any(record == "rest-1" for _, record, _ in live)


async def test_a_plain_reread_leaves_samples_the_records_no_longer_yield(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "oura"), clock) as (engine, client):
        no_initial_sync(engine, "oura")
        await connect_user(client, sim, "oura", "u1")
        await drain(engine)
        key = sim.state.default_user("oura").key
        now = datetime.fromtimestamp(clock(), UTC)
        day = sorted(sim.state.raw_records("oura", "daily_activity", key), key=lambda r: r.start)[-2]
        await engine.store.upsert_samples([old_sample("u1", "daily_activity", day.id, "distance",
                                                      datetime.fromtimestamp(day.start, UTC), {"meters": 1})])
        await engine.sync.plan("oura", "u1", since=now - timedelta(days=5), until=now,
                               resources=["daily_activity"])
        await drain(engine)
        assert await stored(engine, "u1") == {f"old:daily_activity:{day.id}:distance": True}
