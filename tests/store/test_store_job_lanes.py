"""Contract: among due jobs, live work runs first, then users' backfill windows take turns (the
window index), then the oldest; a job not yet due waits whatever its lane."""

from __future__ import annotations

import pytest

from engine.jobs import PRIORITY_BACKFILL, PRIORITY_LIVE, PRIORITY_POLL
from engine.store import JobSpec, Store

from .helpers import ManualClock

pytestmark = pytest.mark.anyio


def window(user: str, index: int) -> JobSpec:
    return JobSpec("sync_window", {"user": user, "index": index}, idempotency_key=f"w-{user}-{index}",
                   user_id=user, priority=PRIORITY_BACKFILL, fair_seq=index)


async def claimed_order(store: Store) -> list[str]:
    order = []
    while (job := await store.claim("w1")) is not None:
        order.append(f"{job.payload.get('user', job.kind)}{job.payload.get('index', '')}")
        assert await store.ack(job.id, "w1")
    return order


async def test_live_work_first_then_backfills_in_turns(store: Store, clock: ManualClock) -> None:
    await store.enqueue_many([window("a", i) for i in range(3)])  # a's whole backfill first
    clock.advance(1)
    await store.enqueue_many([window("b", i) for i in range(3)])
    clock.advance(1)
    await store.enqueue(JobSpec("sync_poll", {}, priority=PRIORITY_POLL))
    await store.enqueue(JobSpec("webhook_event", {}, priority=PRIORITY_LIVE))
    await store.enqueue(JobSpec("webhook_later", {}, priority=PRIORITY_LIVE, run_at=clock.now + 60))
    assert await claimed_order(store) == ["webhook_event", "sync_poll", "a0", "b0", "a1", "b1", "a2", "b2"]
    clock.advance(60)
    assert await claimed_order(store) == ["webhook_later"]


async def test_a_rescheduled_window_keeps_its_lane(store: Store, clock: ManualClock) -> None:
    await store.enqueue_many([window("a", 0), window("a", 1)])
    first = await store.claim("w1")
    assert first is not None and first.fair_seq == 0 and first.priority == PRIORITY_BACKFILL
    await store.release(first.id, "w1", run_at=clock.now + 5)  # waits for its budget slot
    clock.advance(5)
    await store.enqueue(JobSpec("webhook_event", {}, priority=PRIORITY_LIVE))
    assert await claimed_order(store) == ["webhook_event", "a0", "a1"]
