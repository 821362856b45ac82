"""Ultrahuman sends no webhooks: connect, the initial sync asks for one day per request and the
day's ring metrics become sleep, heart rate, HRV, skin temperature, steps and VO2 max samples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.vendors.harness import connect_user, drain, engine_app, engine_env, samples

pytestmark = pytest.mark.anyio


async def test_ultrahuman_connect_then_daily_metrics(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "ultrahuman"), clock) as (engine, client):
        await connect_user(client, sim, "ultrahuman", "u1")
        assert await drain(engine) >= 2
        calls = sim.state.calls_to("ultrahuman", "/api/partners/v1/user_data/metrics")
        assert len(calls) >= 30 and all(len(c.query["date"]) == 10 for c in calls)
        assert len({c.query["date"] for c in calls}) == len(calls)  # one request per day
        for kind in ("heart_rate", "hrv_rmssd", "skin_temp", "steps", "vo2max"):
            assert await samples(client, "u1", type=kind), kind
        user = sim.state.default_user("ultrahuman")
        nights = [m["object"] for day in sim.state.records("ultrahuman", "metrics", user.key)
                  for m in day["metric_data"] if m["type"] == "Sleep"]
        sessions = await samples(client, "u1", type="sleep_session")
        assert len(sessions) == len(nights)
        by_start = {s["timestamp_utc"]: s for s in sessions}
        for night in nights:
            start = datetime.fromtimestamp(night["bedtime_start"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            stages = {x["type"]: x["stage_time"] for x in night["sleep_stages"]}
            assert by_start[start]["deep_s"] == stages["deep_sleep"]
            assert by_start[start]["asleep_s"] == stages["deep_sleep"] + stages["light_sleep"] + stages["rem_sleep"]
