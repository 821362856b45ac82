"""A large backfill can be stopped: `DELETE /v1/syncs/{id}` removes its queued windows (the vendor
is asked nothing more), keeps what was stored, and `GET` says how long the rest would have taken."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.spec.loader import load_spec
from engine.spec.model import Budget, Limits
from engine.store.records import Sync
from engine.worker.runner import WorkerConfig
from engine.worker.sync import seconds_left
from tests.auth.harness import AUTH, connect
from tests.e2e.helpers import engine_app

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


async def test_cancel_stops_a_running_backfill_and_keeps_what_was_stored(env, sim, clock):
    sim.state.add_user("whoop", days=120)
    async with engine_app({**env, "ENGINE_INITIAL_SYNC": "0"}, clock) as (engine, client):
        assert (await connect(client, "whoop", "user-1")).status_code == 200
        since = (datetime.now(UTC) - timedelta(days=119)).date().isoformat()
        started = await client.post("/v1/users/user-1/connections/whoop/sync",
                                    json={"since": since, "resources": ["sleep"]}, headers=AUTH)
        assert started.status_code == 202, started.text
        sync_id, total = started.json()["sync_id"], started.json()["windows_total"]
        assert total == 4 and started.json()["state"] == "running"

        worker = engine.worker(WorkerConfig(backoff_base_s=0.01, backoff_cap_s=0.05))
        assert await worker.run_once()  # one window stored
        progress = (await client.get(f"/v1/syncs/{sync_id}", headers=AUTH)).json()
        assert progress["windows_done"] == 1 and progress["eta_s"] > 0
        stored = (await client.get("/v1/users/user-1/samples", params={"type": "sleep_session"},
                                   headers=AUTH)).json()["samples"]
        assert stored

        cancelled = await client.delete(f"/v1/syncs/{sync_id}", headers=AUTH)
        assert cancelled.status_code == 200, cancelled.text
        body = cancelled.json()
        assert (body["state"], body["windows_cancelled"], body["windows_done"], body["eta_s"]) == (
            "cancelled", total - 1, 1, 0.0)
        assert body["cancelled_at"] is not None

        calls_before = len(sim.state.calls)
        assert not await worker.run_once()  # nothing of the sync is left to run
        assert len(sim.state.calls) == calls_before
        after = (await client.get("/v1/users/user-1/samples", params={"type": "sleep_session"},
                                  headers=AUTH)).json()["samples"]
        assert after == stored
        again = (await client.delete(f"/v1/syncs/{sync_id}", headers=AUTH)).json()
        assert again["cancelled_at"] == body["cancelled_at"] and again["windows_cancelled"] == total - 1

        missing = await client.delete("/v1/syncs/sync_nope", headers=AUTH)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "sync_not_found"
        assert (await client.delete(f"/v1/syncs/{sync_id}")).status_code == 401


def _sync(done: int, total: int, created_at: float = 1000.0, cancelled: int = 0) -> Sync:
    return Sync("s", "acme", "u", total, done, 0, 0, None, None, {}, created_at, created_at,
                windows_cancelled=cancelled)


def test_the_eta_is_the_pace_so_far_but_never_faster_than_the_budget():
    whoop = load_spec(ROOT / "vendors/whoop.yaml", env={})  # the shipped spec: 100 requests a minute
    # 2 of 10 windows in 30 s: 15 s a window, 8 left → 120 s
    assert seconds_left(_sync(2, 10), whoop, now=1030.0) == pytest.approx(120.0)
    # 2000 windows left: the first 100 requests are the minute's burst, 1900 more at 0.6 s each
    # (the day's 10,000 is a burst too) → 1140 s, however fast the first two went
    assert seconds_left(_sync(2, 2002), whoop, now=1000.5) == pytest.approx(1140.0)
    slow = replace(whoop, limits=Limits(budgets=(Budget("app", 10, 60), Budget("user", 2, 1))))
    # nothing done yet: 12 left; app (12-10)*6 = 12 s, user (12-2)*0.5 = 5 s → 12 s
    assert seconds_left(_sync(0, 12), slow, now=1000.0) == pytest.approx(12.0)
    unlimited = replace(whoop, limits=Limits())
    assert seconds_left(_sync(0, 10), unlimited, now=1000.0) is None  # no pace, no budget: unknown
    assert seconds_left(_sync(4, 10, cancelled=6), whoop, now=1030.0) == 0.0
