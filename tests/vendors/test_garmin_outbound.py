"""Garmin's backfill windows are answered 202 and delivered later by push: those windows report
sync.progress when the push lands in them (or when they are closed with nothing pushed), and each
resource still ends with one sync.completed, after its progress reports, marked backfill."""

from __future__ import annotations

import pytest

from engine.worker.deliveries import AWAIT_DELIVERY_S, close_overdue
from sandbox.webhooks import garmin_push
from tests.e2e.helpers import sync_events
from tests.vendors.harness import AUTH, connect_user, drain, engine_app, engine_env

pytestmark = pytest.mark.anyio


async def test_windows_delivered_by_push_report_progress_and_complete(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "garmin"), clock) as (engine, client):
        await connect_user(client, sim, "garmin", "u1")
        await drain(engine)
        awaited = await engine.store.list_awaited_windows(vendor="garmin", user_id="u1")
        sync_id = awaited[0].sync_id
        sync = await engine.store.get_sync(sync_id)
        planned = sync.detail["resources"]
        before = await sync_events(client)
        assert not [d for d in before if d["type"] == "sync.completed"
                    and d["data"]["resource"] in {w.resource for w in awaited}]

        user = sim.state.default_user("garmin")
        daily = sim.state.raw_records("garmin", "dailies", user.key)[-1]
        delivery = garmin_push(sim.state.client("garmin").client_id, {"dailies": [daily.data]})
        assert (await delivery.send(client, "/v1/webhooks/garmin")).status_code == 200
        assert await drain(engine) == 1
        pushed = (await sync_events(client))[len(before):]
        [progress] = [d for d in pushed if d["type"] == "sync.progress"]
        done_before = max((d["data"]["windows_done"] for d in before if d["data"]["resource"] == "daily"), default=0)
        assert progress["data"]["resource"] == "daily" and progress["data"]["windows_done"] == done_before + 1
        assert progress["data"]["records"] >= 1 and progress["origin"] == "backfill"

        # the rest had nothing to deliver: closed after the grace period, each one counted
        assert await close_overdue(engine, clock() + AWAIT_DELIVERY_S + 1) == len(awaited) - 1
        documents = await sync_events(client)
        completed = [d for d in documents if d["type"] == "sync.completed"]
        assert sorted(d["data"]["resource"] for d in completed) == sorted(planned)
        for done in completed:
            data = done["data"]
            assert data["windows_done"] == data["windows_total"] == planned[data["resource"]]
            assert data["cancelled"] is False and done["origin"] == "backfill"
            reports = [i for i, d in enumerate(documents) if d["data"]["resource"] == data["resource"]]
            assert documents.index(done) == max(reports)  # nothing about the resource after it
        finished = (await client.get(f"/v1/syncs/{sync_id}", headers=AUTH)).json()
        assert finished["windows_done"] == finished["windows_total"]
