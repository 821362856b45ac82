"""Garmin: the initial sync's backfill windows are answered 202 and reported as requested; the
summaries pushed afterwards are stored and complete the windows they fall in."""

from __future__ import annotations

import pytest

from sandbox.webhooks import garmin_push
from tests.vendors.harness import AUTH, connect_user, drain, engine_app, engine_env, samples

pytestmark = pytest.mark.anyio


async def test_garmin_backfill_accepted_then_delivered_by_push(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "garmin"), clock) as (engine, client):
        await connect_user(client, sim, "garmin", "u1")
        await drain(engine)
        awaited = await engine.store.list_awaited_windows(vendor="garmin", user_id="u1")
        assert awaited and {w.resource for w in awaited} >= {"daily", "sleep"}
        sync_id = awaited[0].sync_id
        progress = (await client.get(f"/v1/syncs/{sync_id}", headers=AUTH)).json()
        assert progress["state"] == "running"
        assert progress["windows_done"] == progress["windows_total"] - len(awaited)
        assert await samples(client, "u1") == []

        user = sim.state.default_user("garmin")
        daily = sim.state.raw_records("garmin", "dailies", user.key)[-1]
        delivery = garmin_push(sim.state.client("garmin").client_id, {"dailies": [daily.data]})
        assert (await delivery.send(client, "/v1/webhooks/garmin")).status_code == 200
        assert await drain(engine) == 1
        stored = await samples(client, "u1")
        assert "steps" in {s["sample_type"] for s in stored}
        left = await engine.store.list_awaited_windows(vendor="garmin", user_id="u1")
        assert len(left) == len(awaited) - 1  # only the daily window holding the pushed day
        after = (await client.get(f"/v1/syncs/{sync_id}", headers=AUTH)).json()
        assert after["windows_done"] == progress["windows_done"] + 1
        assert after["records"] >= 1


async def test_unsigned_garmin_delivery_with_wrong_client_id_is_refused(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "garmin"), clock) as (_, client):
        delivery = garmin_push("someone-else", {"dailies": []})
        assert (await delivery.send(client, "/v1/webhooks/garmin")).status_code == 401
