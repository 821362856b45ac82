"""Waiting for the rate budget is not a failed attempt. Finding: a backfill window that waited for
the app's budget ("rate budget exhausted; next slot in 95s") used up its 8 attempts and went dead.
And a worker told to stop while a job waits in place for a budget slot stops at once: the job goes
back to the queue for its slot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.fetch.errors import BudgetExhausted
from engine.fetch.ratelimit import RateGovernor
from engine.jobs import JobKind
from engine.spec.model import Budget
from engine.store import JobSpec, open_store
from engine.store.port import Job
from engine.worker import HandlerRegistry, Reschedule, RetryLater, Worker, WorkerConfig, handlers
from engine.worker.handlers import translating_errors
from tests.fetch.helpers import limits_spec
from tests.store.helpers import ManualClock

pytestmark = pytest.mark.anyio

# 3 requests per 80 s is run at 2 per 80 s with a burst of 1: one slot every 40 s.
SLOW_BUDGET = Budget(per="app", requests=3, window_s=80)
SLOT_S = 40.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock):
    opened = await open_store(None, tmp_path / "data", secret_keys=["k" * 32], clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


async def no_sleep(_seconds: float) -> None:
    return None


async def test_a_job_starved_of_budget_far_longer_than_its_attempts_still_succeeds(store, clock):
    spec = limits_spec([SLOW_BUDGET])
    ours = RateGovernor(spec, store, clock=clock, sleep=no_sleep)
    rival = RateGovernor(spec, store, clock=clock, sleep=no_sleep)  # another worker on the budget
    seen: list[int] = []

    @translating_errors
    async def window(job, engine) -> None:
        seen.append(job.attempts)
        await ours.acquire(None, max_wait_s=0)  # nothing to wait for in place: come back later

    registry = HandlerRegistry()
    registry.register("window", window)
    queued = await store.enqueue(JobSpec("window", max_attempts=3))
    worker = Worker(store, registry=registry, clock=clock, worker_id="w1")
    for _ in range(25):  # the rival takes every slot first, many more times than max_attempts
        await rival.acquire(None)
        assert await worker.run_once()
        job = await store.get_job(queued.job_id)
        assert job.state == "queued" and job.attempts == 0, job
        assert job.run_at == pytest.approx(clock() + SLOT_S, abs=0.5)
        clock.advance(job.run_at - clock())
    assert await worker.run_once()  # the budget is free at last
    job = await store.get_job(queued.job_id)
    assert job.state == "done" and job.attempts == 1
    assert seen == [1] * 26


async def test_budget_waits_do_not_hide_real_failures(store, clock):
    calls = 0

    async def flaky(job, engine) -> None:
        nonlocal calls
        calls += 1
        if calls % 2:
            raise Reschedule("acme rate budget exhausted; next slot in 5s", 5)
        raise RuntimeError("HTTP 503")

    registry = HandlerRegistry()
    registry.register("k", flaky)
    queued = await store.enqueue(JobSpec("k", max_attempts=3))
    worker = Worker(store, registry=registry, clock=clock, worker_id="w1",
                    config=WorkerConfig(backoff_base_s=0, backoff_cap_s=0))
    states = []
    for _ in range(6):
        clock.advance(10)
        assert await worker.run_once()
        job = await store.get_job(queued.job_id)
        states.append((job.state, job.attempts))
    assert states == [("queued", 0), ("queued", 1), ("queued", 1), ("queued", 2), ("queued", 2), ("dead", 3)]
    assert job.last_error == "RuntimeError: HTTP 503"


async def test_translating_errors_turns_budget_exhaustion_into_a_reschedule():
    @translating_errors
    async def starved(job, engine) -> None:
        raise BudgetExhausted("acme rate budget exhausted; next slot in 95s", vendor="acme", retry_after=95)

    job = SimpleNamespace(id="job_1", kind="k", vendor="acme", user_id="u", payload={})
    with pytest.raises(Reschedule) as raised:
        await starved(job, None)
    assert raised.value.delay_s == 95 and isinstance(raised.value, RetryLater)


def _job(attempts: int, max_attempts: int) -> Job:
    now = time.time()
    return Job(id="job_1", kind=JobKind.SYNC_WINDOW, state="running", attempts=attempts, max_attempts=max_attempts,
               payload={"vendor": "acme", "user_id": "u", "resource": "sleep", "sync_id": "sync_1",
                        "window": {"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-31T00:00:00+00:00"}},
               run_at=now, lease_owner="w1", lease_expires_at=now + 30, last_error=None,
               idempotency_key=None, vendor="acme", user_id="u", created_at=now, updated_at=now)


async def test_a_budget_wait_on_the_last_attempt_does_not_count_the_window_as_failed():
    updates: list[dict] = []

    class Store:
        async def update_sync(self, sync_id: str, **changes) -> None:
            updates.append(changes)

    class Service:
        async def run_window(self, *args, **kwargs):
            raise BudgetExhausted("acme rate budget exhausted; next slot in 95s", vendor="acme", retry_after=95)

    engine = SimpleNamespace(spec=lambda vendor: SimpleNamespace(id=vendor), store=Store(), sync=Service())
    with pytest.raises(Reschedule):
        await handlers.handle_sync_window(_job(attempts=8, max_attempts=8), engine)
    assert updates == []  # the sync's progress does not count a failed window


async def test_stopping_ends_a_budget_wait_and_requeues_the_job_for_its_slot(tmp_path):
    store = await open_store(None, tmp_path / "real", secret_keys=["k" * 32])
    try:
        governor = RateGovernor(limits_spec([SLOW_BUDGET]), store)
        waiting = asyncio.Event()

        @translating_errors
        async def window(job, engine) -> None:
            await governor.acquire(None, max_wait_s=60)  # the burst
            waiting.set()
            await governor.acquire(None, max_wait_s=60)  # ~40 s in place

        registry = HandlerRegistry()
        registry.register("window", window)
        queued = await store.enqueue(JobSpec("window", max_attempts=2))
        worker = Worker(store, registry=registry, worker_id="w1")
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        await asyncio.wait_for(waiting.wait(), 10)
        await asyncio.sleep(0.2)
        stopped_at = time.monotonic()
        stop.set()
        await asyncio.wait_for(running, 5)
        assert time.monotonic() - stopped_at < 2
        job = await store.get_job(queued.job_id)
        assert job.state == "queued" and job.attempts == 0 and job.lease_owner is None
        assert time.time() + 20 < job.run_at < time.time() + SLOT_S + 1  # back for its slot
        claimed = await store.claim("w2", now=job.run_at + 0.01)
        assert claimed is not None and claimed.id == queued.job_id
    finally:
        await store.close()
