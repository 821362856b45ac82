"""A cancelled sync ends each of its resources that had not completed with one sync.completed
saying `cancelled` (written in the cancelling transaction); a resource that had completed is not
told twice, a second cancel writes nothing, and a window still running when the sync was
cancelled adds no sync event after the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.worker.runner import WorkerConfig
from tests.auth.harness import AUTH, connect
from tests.e2e.helpers import engine_app, sync_events

pytestmark = pytest.mark.anyio


async def test_a_cancelled_sync_ends_each_unfinished_resource_once(env, sim, clock):
    sim.state.add_user("whoop", days=120)
    async with engine_app({**env, "ENGINE_INITIAL_SYNC": "0"}, clock) as (engine, client):
        assert (await connect(client, "whoop", "user-1")).status_code == 200
        since = (datetime.now(UTC) - timedelta(days=20)).date().isoformat()
        started = await client.post("/v1/users/user-1/connections/whoop/sync",
                                    json={"since": since, "resources": ["sleep", "recovery", "workout"]},
                                    headers=AUTH)
        assert started.status_code == 202, started.text
        sync_id = started.json()["sync_id"]
        planned = (await engine.store.get_sync(sync_id)).detail["resources"]
        assert planned == {"sleep": 1, "recovery": 1, "workout": 1}  # 20 days: one window each

        worker = engine.worker(WorkerConfig(backoff_base_s=0.01, backoff_cap_s=0.05))
        completed: list[dict] = []
        while not completed:  # jobs one at a time until one resource's only window has run
            assert await worker.run_once()
            completed = [d for d in await sync_events(client) if d["type"] == "sync.completed"]
        [first_done] = completed
        finished = first_done["data"]["resource"]
        assert first_done["data"]["cancelled"] is False

        cancelled = await client.delete(f"/v1/syncs/{sync_id}", headers=AUTH)
        assert cancelled.status_code == 200 and cancelled.json()["windows_cancelled"] == 2
        events = await sync_events(client)
        ends = [d for d in events if d["type"] == "sync.completed" and d["data"]["cancelled"]]
        assert sorted(d["data"]["resource"] for d in ends) == sorted(set(planned) - {finished})
        for end in ends:
            data = end["data"]
            assert (data["sync_id"], data["user_id"], data["vendor"]) == (sync_id, "user-1", "whoop")
            assert (data["windows_done"], data["windows_total"], data["records"]) == (0, 1, 0)
            assert end["origin"] == "backfill"

        assert (await client.delete(f"/v1/syncs/{sync_id}", headers=AUTH)).status_code == 200
        # a window that was running at the cancel finishes: counted, but the resource has ended
        straggler = next(r for r in planned if r != finished)
        assert await engine.store.note_sync_window(sync_id, vendor="whoop", user_id="user-1",
                                                   resource=straggler, window_key="running", records=3) == []
        assert await sync_events(client) == events


async def test_with_the_outbox_off_a_cancel_writes_no_event(env, sim, clock):
    sim.state.add_user("whoop", days=30)
    async with engine_app({**env, "ENGINE_INITIAL_SYNC": "0", "ENGINE_OUTBOX": "0"}, clock) as (engine, client):
        assert (await connect(client, "whoop", "user-1")).status_code == 200
        since = (datetime.now(UTC) - timedelta(days=20)).date().isoformat()
        started = await client.post("/v1/users/user-1/connections/whoop/sync",
                                    json={"since": since, "resources": ["sleep"]}, headers=AUTH)
        assert (await client.delete(f"/v1/syncs/{started.json()['sync_id']}", headers=AUTH)).status_code == 200
        assert await engine.store.list_changes() == []
