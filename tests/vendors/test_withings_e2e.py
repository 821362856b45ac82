"""withings: connect through the vendor's consent, a notification delivered the vendor's way about one
sleep record, the worker's fetch, and the normalized samples read back through the API."""

from __future__ import annotations

import pytest

from tests.vendors.harness import AUTH, engine_app, engine_env, notified_samples

pytestmark = pytest.mark.anyio


async def test_withings_notification_to_samples(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "withings"), clock) as (engine, client):
        stored = await notified_samples(engine, client, sim, "withings", "sleep")
        assert "sleep_session" in {s["sample_type"] for s in stored}
        assert all(s["source"] == "withings" and s["timestamp_utc"].endswith("Z") for s in stored)


async def test_withings_subscribes_every_appli_and_revokes_on_disconnect(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "withings"), clock) as (engine, client):
        await notified_samples(engine, client, sim, "withings", "sleep")
        applis = sorted(int(s["appli"]) for s in sim.state.subscriptions["withings"])
        assert applis == [1, 2, 4, 16, 44, 46]
        response = await client.delete("/v1/users/u1/connections/withings", headers=AUTH)
        assert response.status_code == 200, response.text
        assert sim.state.subscriptions["withings"] == []


async def test_the_initial_sleep_backfill_reads_every_night_in_calls_of_at_most_7_days(sim, clock, tmp_path):
    # Withings' getsummary spans at most 7 days per call (the sandbox answers a wider range with its
    # first 7 days): a 30-day window would store one week of a month's nights.
    from tests.vendors.harness import connect_user, drain, samples

    async with engine_app(sim, engine_env(sim, tmp_path, "withings"), clock) as (engine, client):
        await connect_user(client, sim, "withings", "u1")
        await drain(engine)
        user = sim.state.default_user("withings")
        nights = {str(r.data["id"]) for r in sim.state.raw_records("withings", "sleep", user.key)}
        stored = {s["provenance"]["vendor_record_id"] for s in await samples(client, "u1", type="sleep_session")}
        assert len(nights) > 7 and stored == nights
