"""The job loop against a real SQLite store: ack, retry with backoff, dead-letter, lost leases."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from engine.fetch.backoff import full_jitter
from engine.store import JobSpec, open_store
from engine.worker import (
    HandlerRegistry,
    PermanentJobError,
    RetryLater,
    Worker,
    WorkerConfig,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path):
    opened = await open_store(None, tmp_path / "data", secret_keys=["k" * 32])
    try:
        yield opened
    finally:
        await opened.close()


def worker(store, registry, **config) -> Worker:
    return Worker(store, engine="ENGINE", registry=registry, config=WorkerConfig(**config), worker_id="w1")


async def test_success_is_acked_and_handler_sees_job_and_engine(store):
    seen = []
    registry = HandlerRegistry()

    async def handle(job, engine):
        seen.append((job.kind, dict(job.payload), engine))

    registry.register("k", handle)
    job = await store.enqueue(JobSpec(kind="k", payload={"x": 1}))
    assert await worker(store, registry).run_once() is True
    assert seen == [("k", {"x": 1}, "ENGINE")]
    assert (await store.get_job(job.job_id)).state == "done"
    assert await worker(store, registry).run_once() is False


async def test_failures_retry_with_backoff_then_dead_letter_with_last_error(store):
    registry = HandlerRegistry()
    calls = []

    async def flaky(job, engine):
        calls.append(job.attempts)
        raise RuntimeError(f"vendor said no #{job.attempts}")

    registry.register("k", flaky)
    queued = await store.enqueue(JobSpec(kind="k", max_attempts=3))
    w = worker(store, registry, backoff_base_s=0.0, backoff_cap_s=0.0)
    for _ in range(3):
        assert await w.run_once()
    job = await store.get_job(queued.job_id)
    assert calls == [1, 2, 3]
    assert job.state == "dead" and job.last_error == "RuntimeError: vendor said no #3"


async def test_retry_is_scheduled_in_the_future(store):
    registry = HandlerRegistry()

    async def boom(job, engine):
        raise ValueError("x")

    registry.register("k", boom)
    queued = await store.enqueue(JobSpec(kind="k"))
    before = time.time()
    await Worker(store, registry=registry, config=WorkerConfig(backoff_base_s=100, backoff_cap_s=100),
                 rng=random.Random(1)).run_once()
    job = await store.get_job(queued.job_id)
    assert job.state == "queued" and before <= job.run_at <= before + 101
    assert await Worker(store, registry=registry).run_once() is False  # not due yet


async def test_permanent_error_and_retry_later(store):
    registry = HandlerRegistry()

    async def permanent(job, engine):
        raise PermanentJobError("connection revoked")

    async def later(job, engine):
        raise RetryLater("rate limited", delay_s=500)

    registry.register("p", permanent)
    registry.register("l", later)
    p = await store.enqueue(JobSpec(kind="p"))
    lt = await store.enqueue(JobSpec(kind="l"))
    w = worker(store, registry)
    await w.run_once()
    await w.run_once()
    assert (await store.get_job(p.job_id)).state == "failed"
    later_job = await store.get_job(lt.job_id)
    assert later_job.state == "queued" and later_job.run_at > time.time() + 400


async def test_only_registered_kinds_are_claimed(store):
    registry = HandlerRegistry()
    registry.register("mine", lambda job, engine: asyncio.sleep(0))
    other = await store.enqueue(JobSpec(kind="someone_elses"))
    assert await worker(store, registry).run_once() is False
    assert (await store.get_job(other.job_id)).state == "queued"


async def test_heartbeat_keeps_a_long_job_leased(store):
    registry = HandlerRegistry()

    async def slow(job, engine):
        await asyncio.sleep(0.8)

    registry.register("k", slow)
    queued = await store.enqueue(JobSpec(kind="k"))
    w = worker(store, registry, lease_s=0.3, heartbeat_s=0.05)
    run = asyncio.create_task(w.run_once())
    await asyncio.sleep(0.5)  # past the first lease: only heartbeats keep it
    assert await store.claim("w2", lease_s=0.3) is None
    assert await run
    assert (await store.get_job(queued.job_id)).state == "done"


async def test_lost_lease_cancels_the_handler_without_ack(store):
    registry = HandlerRegistry()
    cancelled = asyncio.Event()

    async def stuck(job, engine):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    registry.register("k", stuck)
    queued = await store.enqueue(JobSpec(kind="k"))
    w = worker(store, registry, lease_s=0.2, heartbeat_s=0.5)  # heartbeats too late on purpose
    run = asyncio.create_task(w.run_once())
    await asyncio.sleep(0.3)
    stolen = await store.claim("w2", lease_s=30)
    assert stolen is not None and stolen.id == queued.job_id
    await asyncio.wait_for(run, 5)
    assert cancelled.is_set()
    assert (await store.get_job(queued.job_id)).lease_owner == "w2"


async def test_run_loop_drains_queue_with_concurrency_and_stops(store):
    registry = HandlerRegistry()
    done = []

    async def handle(job, engine):
        await asyncio.sleep(0.01)
        done.append(job.payload["i"])

    registry.register("k", handle)
    await store.enqueue_many([JobSpec(kind="k", payload={"i": i}) for i in range(20)])
    stop = asyncio.Event()
    w = worker(store, registry, concurrency=4, poll_s=0.05)
    loop = asyncio.create_task(w.run(stop))
    for _ in range(200):
        if len(done) == 20:
            break
        await asyncio.sleep(0.02)
    stop.set()
    assert await asyncio.wait_for(loop, 5) == 20
    assert sorted(done) == list(range(20))


def test_backoff_is_full_jitter_and_capped():
    rng = random.Random(7)
    for attempt in range(1, 30):
        ceiling = min(60.0, 1.0 * 2 ** (attempt - 1))
        samples = [full_jitter(attempt - 1, 1.0, 60.0, rng.random) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8 and min(samples) < ceiling * 0.2
