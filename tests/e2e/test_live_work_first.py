"""Live work first: a webhook that arrives while a backfill fills the queue is fetched on the next
claim, ahead of every queued backfill window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.jobs import PRIORITY_LIVE, JobKind
from engine.worker.runner import WorkerConfig
from tests.auth.harness import connect
from tests.e2e.helpers import engine_app, send_whoop_webhook

pytestmark = pytest.mark.anyio


async def test_a_webhook_overtakes_a_queued_backfill(env, sim, clock):
    async with engine_app({**env, "ENGINE_INITIAL_SYNC": "0"}, clock) as (engine, client):
        assert (await connect(client, "whoop", "user-1")).status_code == 200
        vendor_user = sim.state.default_user("whoop")
        plan = await engine.sync.plan("whoop", "user-1", since=datetime.now(UTC) - timedelta(days=13))
        assert plan.sync.windows_total >= 4
        sleep = next(s for s in sim.state.records("whoop", "sleep", vendor_user.key) if not s["nap"])
        event = {"user_id": vendor_user.vendor_id, "id": sleep["id"], "type": "sleep.updated", "trace_id": "t"}
        answer = await send_whoop_webhook(client, sim.state.client("whoop").client_secret, event,
                                          int(clock() * 1000))
        assert answer.status_code < 300, answer.text

        queued = await engine.store.list_jobs(state="queued")
        live = [job for job in queued if job.kind == JobKind.WEBHOOK_EVENT]
        assert len(live) == 1 and live[0].priority == PRIORITY_LIVE
        assert all(job.created_at <= live[0].created_at for job in queued if job.kind == JobKind.SYNC_WINDOW)

        worker = engine.worker(WorkerConfig(backoff_base_s=0.01, backoff_cap_s=0.05))
        assert await worker.run_once()
        assert (await engine.store.get_job(live[0].id)).state == "done"  # first, though queued last
        windows = await engine.store.list_jobs(kind=JobKind.SYNC_WINDOW)
        assert windows and all(job.state == "queued" for job in windows)
