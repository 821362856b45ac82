"""google_health exercise is listed by its civil (local) start time: for a user at UTC+9 the
engine writes each window's bounds on the user's clock, so the workouts of a local day and of a
notified interval are found, whether the zone came from the app or from the records themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.fetch.windows import TimeWindow
from sandbox.webhooks import notification_for
from tests.auth.harness import connect
from tests.vendors.harness import drain, engine_app, engine_env, no_initial_sync, samples

pytestmark = pytest.mark.anyio

TOKYO_SEED = 1  # a simulated user whose timeline runs at UTC+09:00
NINE_HOURS = 9 * 3600


def _tokyo_user(sim):
    user = sim.state.add_user("google_health", seed=TOKYO_SEED)
    sim.state.next_authorize("google_health", user=user.key)
    workouts = sim.state.raw_records("google_health", "exercise", user.key)
    assert workouts and all(w.data["exercise"]["interval"]["startUtcOffset"] == "32400s" for w in workouts)
    return user, workouts


def _local_day(ts: float) -> datetime:
    return datetime.fromtimestamp(ts + NINE_HOURS, UTC).replace(hour=0, minute=0, second=0)


async def test_the_window_of_a_local_day_finds_that_days_workouts(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "google_health"), clock) as (engine, client):
        no_initial_sync(engine, "google_health")
        user, workouts = _tokyo_user(sim)
        assert (await connect(client, "google_health", "u1", {"tz": "Asia/Tokyo"})).status_code in (200, 302)
        await drain(engine)
        workout = workouts[len(workouts) // 2]
        # The local day of the workout, as UTC instants: local midnight is 15:00Z the day before.
        day = _local_day(workout.start)
        window = TimeWindow(day - timedelta(hours=9), day + timedelta(hours=15))
        spec = engine.specs["google_health"]
        await engine.sync.run_window(spec, "u1", "exercise", window)
        stored = {s["provenance"]["vendor_record_id"] for s in await samples(client, "u1", type="workout")}
        expected = {w.data["name"] for w in workouts if _local_day(w.start) == day}
        # The simulator's workouts start 16:00-19:00 local: on the UTC clock the bounds would
        # have ended at 15:00 local and found none of them.
        assert workout.data["name"] in expected
        assert stored == expected


async def test_notified_workouts_are_found_before_and_after_the_zone_is_known(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "google_health"), clock) as (engine, client):
        no_initial_sync(engine, "google_health")
        user, workouts = _tokyo_user(sim)
        assert (await connect(client, "google_health", "u1")).status_code in (200, 302)
        await drain(engine)
        assert await engine.store.zone_history("google_health", "u1") == []
        first, second = workouts[0], workouts[-1]
        for workout in (first, second):
            delivery = notification_for(sim.state, "google_health", "exercise", user.key, workout, "update")
            assert (await delivery.send(client, "/v1/webhooks/google_health")).status_code == 204
            await drain(engine)
            if workout is first:  # learnt from the record found with the widest bounds
                assert [row[1:] for row in await engine.store.zone_history("google_health", "u1")] == [
                    ("+09:00", "connection")]
        stored = {s["provenance"]["vendor_record_id"]: s for s in await samples(client, "u1", type="workout")}
        assert set(stored) >= {first.data["name"], second.data["name"]}
        assert stored[second.data["name"]]["tz_offset_min"] == 540
