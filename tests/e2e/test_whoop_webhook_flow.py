"""Connect → signed sleep.updated → the worker fetches the sleep by id → samples readable in
canonical units; sleep.deleted tombstones them. Real ASGI app, shipped WHOOP spec, simulator."""

from __future__ import annotations

import pytest

from tests.auth.harness import AUTH, connect
from tests.e2e.helpers import drain, engine_app, send_whoop_webhook

pytestmark = pytest.mark.anyio


async def samples(client, user: str, **params) -> list[dict]:
    response = await client.get(f"/v1/users/{user}/samples", params={"limit": 1000, **params}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()["samples"]


async def test_sleep_updated_then_deleted(env, sim, clock):
    # No initial sync for this test: the webhook alone must bring the sleep in.
    async with engine_app({**env, "ENGINE_INITIAL_SYNC": "0"}, clock) as (engine, client):
        response = await connect(client, "whoop", "user-1")
        assert response.status_code == 200, response.text
        vendor_user = sim.state.default_user("whoop")
        assert await drain(engine) == 0
        sleep = next(s for s in sim.state.records("whoop", "sleep", vendor_user.key) if not s["nap"])
        event = {"user_id": vendor_user.vendor_id, "id": sleep["id"], "type": "sleep.updated",
                 "trace_id": "trace-1"}
        secret = sim.state.client("whoop").client_secret
        delivered = await send_whoop_webhook(client, secret, event, int(clock() * 1000))
        assert delivered.status_code in (200, 202, 204), delivered.text
        # a replayed delivery creates no second job
        await send_whoop_webhook(client, secret, event, int(clock() * 1000))
        assert await drain(engine) == 1
        fetched = sim.state.calls_to("whoop", f"/developer/v2/activity/sleep/{sleep['id']}")
        assert len(fetched) == 1

        stored = await samples(client, "user-1")
        session = next(s for s in stored if s["sample_type"] == "sleep_session")
        stages = sleep["score"]["stage_summary"]
        assert session["source"] == "whoop"
        assert session["rem_s"] == stages["total_rem_sleep_time_milli"] / 1000
        assert session["deep_s"] == stages["total_slow_wave_sleep_time_milli"] / 1000
        assert session["timestamp_utc"].endswith("Z")
        assert session["provenance"]["vendor_record_id"] == sleep["id"]
        assert {s["provenance"]["vendor_record_id"] for s in stored} == {sleep["id"]}

        deleted = {**event, "type": "sleep.deleted", "trace_id": "trace-2"}
        assert (await send_whoop_webhook(client, secret, deleted, int(clock() * 1000))).status_code < 300
        assert await drain(engine) == 1
        assert await samples(client, "user-1") == []
        tombstones = await samples(client, "user-1", include_deleted="true")
        assert tombstones and all(s["deleted"] for s in tombstones)
        assert len(tombstones) == len(stored)


async def test_update_for_a_record_the_vendor_no_longer_has_tombstones_it(env, sim, clock):
    async with engine_app({**env, "ENGINE_INITIAL_SYNC": "0"}, clock) as (engine, client):
        assert (await connect(client, "whoop", "user-1")).status_code == 200
        vendor_user = sim.state.default_user("whoop")
        sleep = next(s for s in sim.state.records("whoop", "sleep", vendor_user.key) if not s["nap"])
        secret = sim.state.client("whoop").client_secret
        event = {"user_id": vendor_user.vendor_id, "id": sleep["id"], "type": "sleep.updated", "trace_id": "t-1"}
        await send_whoop_webhook(client, secret, event, int(clock() * 1000))
        assert await drain(engine) == 1
        stored = await samples(client, "user-1")
        assert stored

        # deleted at the vendor, but the update notification arrives (and is fetched) after that
        sim.state.delete_record("whoop", "sleep", vendor_user.key, sleep["id"])
        late = {**event, "trace_id": "t-2"}
        await send_whoop_webhook(client, secret, late, int(clock() * 1000))
        assert await drain(engine) == 1
        path = f"/developer/v2/activity/sleep/{sleep['id']}"
        assert len(sim.state.calls_to("whoop", path)) == 2  # the second answered 404

        assert await samples(client, "user-1") == []
        tombstones = await samples(client, "user-1", include_deleted="true")
        assert len(tombstones) == len(stored) and all(s["deleted"] for s in tombstones)
        for state in ("failed", "dead"):
            jobs = (await client.get("/v1/jobs", params={"state": state}, headers=AUTH)).json()["jobs"]
            assert jobs == []
