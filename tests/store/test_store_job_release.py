"""Contract: releasing a job back to the queue without using an attempt (a wait for the rate
budget's next slot, a worker shutting down). Both adapters behave the same."""

from __future__ import annotations

import pytest

from engine.store import JobSpec, Store

from .helpers import ManualClock

pytestmark = pytest.mark.anyio


async def test_release_gives_the_attempt_back_and_queues_the_job_for_its_slot(
    store: Store, clock: ManualClock
) -> None:
    queued = await store.enqueue(JobSpec("sync_window", max_attempts=3))
    job = await store.claim("w1", lease_s=30)
    assert job is not None and job.attempts == 1
    slot = clock() + 95
    assert await store.release(job.id, "w1", run_at=slot) is True
    released = await store.get_job(queued.job_id)
    assert released.state == "queued" and released.attempts == 0
    assert released.lease_owner is None and released.lease_expires_at is None
    assert released.run_at == pytest.approx(slot)
    assert await store.claim("w2", lease_s=30) is None  # not before its slot
    clock.advance(95)
    again = await store.claim("w2", lease_s=30)
    assert again is not None and again.id == queued.job_id and again.attempts == 1


async def test_releases_never_use_up_attempts(store: Store, clock: ManualClock) -> None:
    queued = await store.enqueue(JobSpec("sync_window", max_attempts=3))
    for _ in range(20):  # many more waits than attempts
        job = await store.claim("w1", lease_s=30)
        assert job is not None and job.attempts == 1
        assert await store.release(job.id, "w1", run_at=clock() + 1)
        clock.advance(1)
    assert (await store.get_job(queued.job_id)).state == "queued"
    # Failures still count: three of them dead-letter the job.
    states = []
    for _ in range(3):
        job = await store.claim("w1", lease_s=30)
        states.append(await store.fail(job.id, "w1", "HTTP 503", retry_at=clock()))
    assert states == ["queued", "queued", "dead"]


async def test_release_keeps_the_last_failure_and_counts_earlier_ones(store: Store, clock: ManualClock) -> None:
    queued = await store.enqueue(JobSpec("sync_window", max_attempts=5))
    job = await store.claim("w1", lease_s=30)
    await store.fail(job.id, "w1", "HTTP 503", retry_at=clock())
    job = await store.claim("w1", lease_s=30)
    assert job.attempts == 2
    assert await store.release(job.id, "w1")  # default: due now
    released = await store.get_job(queued.job_id)
    assert released.attempts == 1 and released.last_error == "HTTP 503"
    assert released.run_at == pytest.approx(clock())


async def test_only_the_holder_can_release_a_running_job(store: Store, clock: ManualClock) -> None:
    queued = await store.enqueue(JobSpec("sync_window"))
    assert await store.release(queued.job_id, "w1") is False  # queued, not held
    job = await store.claim("w1", lease_s=30)
    assert await store.release(job.id, "someone-else") is False
    assert await store.ack(job.id, "w1")
    assert await store.release(job.id, "w1") is False  # done
    assert (await store.get_job(queued.job_id)).state == "done"


async def test_a_lapsed_lease_cannot_be_released_by_its_old_holder(store: Store, clock: ManualClock) -> None:
    queued = await store.enqueue(JobSpec("sync_window"))
    await store.claim("w1", lease_s=5)
    clock.advance(6)
    taken = await store.claim("w2", lease_s=30)
    assert taken is not None and taken.id == queued.job_id
    assert await store.release(queued.job_id, "w1") is False
    assert (await store.get_job(queued.job_id)).lease_owner == "w2"
