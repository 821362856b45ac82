"""The worker's live lane: a webhook job runs while every other lane holds a backfill window that
waits (for a budget slot, here for an event), and an idle worker wakes when a job is queued."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.jobs import PRIORITY_BACKFILL, PRIORITY_LIVE, JobKind
from engine.store import JobSpec, open_store
from engine.worker.runner import HandlerRegistry, Worker, WorkerConfig
from tests.store.helpers import TEST_SECRET

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_live_job_runs_while_every_lane_holds_a_waiting_backfill(tmp_path: Path) -> None:
    store = await open_store(None, tmp_path, secret_keys=[TEST_SECRET])
    release, live_ran, holding = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def backfill(job, engine) -> None:
        holding.set()
        await release.wait()

    async def live(job, engine) -> None:
        live_ran.set()

    registry = HandlerRegistry({JobKind.SYNC_WINDOW: backfill, JobKind.WEBHOOK_EVENT: live})
    worker = Worker(store, registry=registry, config=WorkerConfig(concurrency=1, poll_s=60.0))
    stop = asyncio.Event()
    try:
        await store.enqueue(JobSpec(kind=JobKind.SYNC_WINDOW, priority=PRIORITY_BACKFILL))
        running = asyncio.create_task(worker.run(stop))
        await asyncio.wait_for(holding.wait(), 10)
        # every lane is idle or busy with a long poll: only the store's wake-up brings this one in
        await store.enqueue(JobSpec(kind=JobKind.WEBHOOK_EVENT, priority=PRIORITY_LIVE))
        await asyncio.wait_for(live_ran.wait(), 10)
        assert not release.is_set()  # the backfill still holds its lane
        release.set()
        stop.set()
        await asyncio.wait_for(running, 10)
        assert (await store.count_jobs())["done"] == 2
    finally:
        release.set()
        stop.set()
        await store.close()


async def test_without_live_lanes_the_live_job_waits_for_a_lane(tmp_path: Path) -> None:
    store = await open_store(None, tmp_path, secret_keys=[TEST_SECRET])
    release, holding = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def backfill(job, engine) -> None:
        holding.set()
        await release.wait()
        order.append("backfill")

    async def live(job, engine) -> None:
        order.append("live")

    registry = HandlerRegistry({JobKind.SYNC_WINDOW: backfill, JobKind.WEBHOOK_EVENT: live})
    worker = Worker(store, registry=registry, config=WorkerConfig(concurrency=1, live_lanes=0, poll_s=0.05))
    try:
        await store.enqueue(JobSpec(kind=JobKind.SYNC_WINDOW))
        running = asyncio.create_task(worker.run(max_jobs=2))
        await asyncio.wait_for(holding.wait(), 10)
        await store.enqueue(JobSpec(kind=JobKind.WEBHOOK_EVENT, priority=PRIORITY_LIVE))
        release.set()
        await asyncio.wait_for(running, 10)
        assert order == ["backfill", "live"]
    finally:
        release.set()
        await store.close()
