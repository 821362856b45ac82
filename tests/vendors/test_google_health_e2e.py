"""google_health: connect through the vendor's consent, a notification delivered the vendor's way about one
sleep record, the worker's fetch, and the normalized samples read back through the API."""

from __future__ import annotations

import pytest

from tests.vendors.harness import engine_app, engine_env, notified_samples

pytestmark = pytest.mark.anyio


async def test_google_health_notification_to_samples(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "google_health"), clock) as (engine, client):
        stored = await notified_samples(engine, client, sim, "google_health", "sleep")
        assert "sleep_session" in {s["sample_type"] for s in stored}
        assert all(s["source"] == "google_health" and s["timestamp_utc"].endswith("Z") for s in stored)


async def test_notifications_are_acknowledged_204_and_naps_come_from_metadata_nap(sim, clock, tmp_path):
    # Google redelivers for up to 7 days anything not answered 204 No Content.
    from sandbox.webhooks import notification_for
    from tests.vendors.harness import connect_user, drain, no_initial_sync, samples

    async with engine_app(sim, engine_env(sim, tmp_path, "google_health"), clock) as (engine, client):
        no_initial_sync(engine, "google_health")
        await connect_user(client, sim, "google_health", "u1")
        await drain(engine)
        user = sim.state.default_user("google_health")
        every = sim.state.raw_records("google_health", "sleep", user.key)
        naps = [n for n in every if n.data["sleep"]["metadata"]["nap"]]
        nights = [n for n in every if not n.data["sleep"]["metadata"]["nap"]][:3] + naps[:1]
        assert len(nights) == 4
        for night in nights:
            answer = await notification_for(sim.state, "google_health", "sleep", user.key, night,
                                            "update").send(client, "/v1/webhooks/google_health")
            assert (answer.status_code, answer.content) == (204, b"")
            replay = await notification_for(sim.state, "google_health", "sleep", user.key, night,
                                            "update").send(client, "/v1/webhooks/google_health")
            assert replay.status_code == 204
        await drain(engine)
        stored = {s["provenance"]["vendor_record_id"]: s for s in await samples(client, "u1", type="sleep_session")}
        assert len(stored) == 4
        for night in nights:  # the vendor's own flag, whatever the session's length
            assert stored[night.data["name"]]["is_nap"] is night.data["sleep"]["metadata"]["nap"]
