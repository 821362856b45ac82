"""strava: connect through the vendor's consent, a notification delivered the vendor's way about one
activities record, the worker's fetch, and the normalized samples read back through the API."""

from __future__ import annotations

import pytest

from tests.vendors.harness import engine_app, engine_env, notified_samples

pytestmark = pytest.mark.anyio


async def test_strava_notification_to_samples(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "strava"), clock) as (engine, client):
        stored = await notified_samples(engine, client, sim, "strava", "activities")
        assert "workout" in {s["sample_type"] for s in stored}
        assert all(s["source"] == "strava" and s["timestamp_utc"].endswith("Z") for s in stored)


async def test_strava_push_subscription_created_after_the_challenge(sim, clock, tmp_path):
    from engine.subscriptions import AppSubscriptionManager

    async with engine_app(sim, engine_env(sim, tmp_path, "strava"), clock) as (engine, _client):
        report = await AppSubscriptionManager(engine).create("strava")
        [sub] = sim.state.subscriptions["strava"]
        assert [info.id for info in report.created] == [str(sub["id"])]
        listed = await AppSubscriptionManager(engine).list("strava")
        assert [info.id for info in listed] == [str(sub["id"])]
