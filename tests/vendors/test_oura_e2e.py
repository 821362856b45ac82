"""oura: connect through the vendor's consent, a notification delivered the vendor's way about one
sleep record, the worker's fetch, and the normalized samples read back through the API."""

from __future__ import annotations

import pytest

from tests.vendors.harness import engine_app, engine_env, notified_samples

pytestmark = pytest.mark.anyio


async def test_oura_notification_to_samples(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "oura"), clock) as (engine, client):
        stored = await notified_samples(engine, client, sim, "oura", "sleep")
        assert "sleep_session" in {s["sample_type"] for s in stored}
        assert all(s["source"] == "oura" and s["timestamp_utc"].endswith("Z") for s in stored)


async def test_oura_app_subscriptions_created_and_renewed_ahead_by_the_scheduler(sim, clock, tmp_path):
    from engine.subscriptions import AppSubscriptionManager
    from engine.worker.scheduler import Scheduler
    from tests.vendors.harness import drain

    async with engine_app(sim, engine_env(sim, tmp_path, "oura"), clock) as (engine, _client):
        await AppSubscriptionManager(engine).create("oura")  # each answered the GET challenge
        subs = sim.state.subscriptions["oura"]
        assert len(subs) == 15
        stored = await engine.store.list_app_subscriptions("oura")
        assert {s.subscription_id for s in stored} == {s["id"] for s in subs}
        assert all(s.expires_at for s in stored)
        scheduler = Scheduler(engine)
        assert await scheduler.tick() == 0  # nothing due yet
        clock.advance(29.5 * 86400)  # within a day of expiry
        assert await scheduler.tick() == 15
        assert await scheduler.tick() == 0  # the same expiry is renewed once
        assert await drain(engine) == 15
        assert sim.state.counters["oura.subscription_renewals"] == 15
        renewed = await engine.store.list_app_subscriptions("oura")
        assert min(s.expires_at for s in renewed) > clock() + 29 * 86400
