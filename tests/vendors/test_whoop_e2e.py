"""whoop: connect through the vendor's consent, a notification delivered the vendor's way about one
sleep record, the worker's fetch, and the normalized samples read back through the API."""

from __future__ import annotations

import pytest

from tests.vendors.harness import engine_app, engine_env, notified_samples

pytestmark = pytest.mark.anyio


async def test_whoop_notification_to_samples(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "whoop"), clock) as (engine, client):
        stored = await notified_samples(engine, client, sim, "whoop", "sleep")
        assert "sleep_session" in {s["sample_type"] for s in stored}
        assert all(s["source"] == "whoop" and s["timestamp_utc"].endswith("Z") for s in stored)
