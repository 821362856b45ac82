"""fitbit: connect through the vendor's consent, a notification delivered the vendor's way about one
sleep record, the worker's fetch, and the normalized samples read back through the API."""

from __future__ import annotations

import pytest

from tests.vendors.harness import AUTH, engine_app, engine_env, notified_samples

pytestmark = pytest.mark.anyio


async def test_fitbit_notification_to_samples(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "fitbit"), clock) as (engine, client):
        stored = await notified_samples(engine, client, sim, "fitbit", "sleep")
        assert "sleep_session" in {s["sample_type"] for s in stored}
        assert all(s["source"] == "fitbit" and s["timestamp_utc"].endswith("Z") for s in stored)


async def test_fitbit_per_user_subscription_follows_the_connection(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "fitbit"), clock) as (engine, client):
        await notified_samples(engine, client, sim, "fitbit", "sleep")
        owner = sim.state.default_user("fitbit").key
        assert [s["ownerId"] for s in sim.state.subscriptions["fitbit"]] == [owner]
        response = await client.delete("/v1/users/u1/connections/fitbit", headers=AUTH)
        assert response.status_code == 200, response.text
        assert sim.state.subscriptions["fitbit"] == []
