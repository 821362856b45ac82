"""Contract: the dedupe inbox and the job queue."""

from __future__ import annotations

import asyncio

import pytest

from engine.store import InboxEvent, JobSpec, Store, StoreError

from .helpers import ManualClock

pytestmark = pytest.mark.anyio


def event(key: str, **kw) -> InboxEvent:
    return InboxEvent(vendor="acme", event_key=key, event_type="sleep.updated", **kw)


async def test_replayed_event_creates_no_new_job(store: Store) -> None:
    first = await store.record_event_and_enqueue(event("e-1"), JobSpec("event", {"id": 1}))
    replay = await store.record_event_and_enqueue(event("e-1"), JobSpec("event", {"id": 1}))
    assert first.created and first.job_id is not None
    assert not replay.created and replay.job_id is None
    assert (await store.count_jobs())["queued"] == 1
    # The same key from another vendor is a different event.
    other = await store.record_event_and_enqueue(
        InboxEvent(vendor="other", event_key="e-1"), JobSpec("event")
    )
    assert other.created


async def test_event_and_job_commit_together_or_not_at_all(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.record_event_and_enqueue(event("e-2"), JobSpec(kind=""))
    # The failed job rolled the inbox row back too, so a vendor retry is accepted as new.
    retried = await store.record_event_and_enqueue(event("e-2"), JobSpec("event"))
    assert retried.created and retried.job_id is not None
    assert sum((await store.count_jobs()).values()) == 1


async def test_event_without_job_is_stored_and_deduplicated(store: Store) -> None:
    assert (await store.record_event_and_enqueue(event("unknown-type"), None)).created
    assert not (await store.record_event_and_enqueue(event("unknown-type"), None)).created
    assert sum((await store.count_jobs()).values()) == 0


async def test_one_delivery_with_many_events_including_a_duplicate(store: Store) -> None:
    results = await store.record_events(
        [
            (event("a"), JobSpec("event")),
            (event("b"), JobSpec("event")),
            (event("a"), JobSpec("event")),
        ]
    )
    assert [r.created for r in results] == [True, True, False]
    assert (await store.count_jobs())["queued"] == 2


async def test_thousand_concurrent_distinct_deliveries_make_thousand_jobs(store: Store) -> None:
    results = await asyncio.gather(
        *(
            store.record_event_and_enqueue(event(f"ev-{i}"), JobSpec("event", {"i": i}))
            for i in range(1000)
        ),
        *(
            store.record_event_and_enqueue(event(f"ev-{i}"), JobSpec("event", {"i": i}))
            for i in range(0, 1000, 5)
        ),
    )
    assert sum(r.created for r in results) == 1000
    assert (await store.count_jobs())["queued"] == 1000
    assert len({r.job_id for r in results if r.created}) == 1000


async def test_thousand_concurrent_enqueues(store: Store) -> None:
    results = await asyncio.gather(*(store.enqueue(JobSpec("sync", {"i": i})) for i in range(1000)))
    assert len({r.job_id for r in results}) == 1000
    assert (await store.count_jobs())["queued"] == 1000


async def test_idempotency_key_enqueues_once(store: Store) -> None:
    first, second = await asyncio.gather(
        store.enqueue(JobSpec("sync", idempotency_key="k-1")),
        store.enqueue(JobSpec("sync", idempotency_key="k-1")),
    )
    assert {first.created, second.created} == {True, False}
    assert first.job_id == second.job_id
    batch = await store.enqueue_many([JobSpec("sync", idempotency_key="k-1"), JobSpec("sync")])
    assert not batch[0].created and batch[1].created


async def test_claim_only_due_jobs_and_only_once(store: Store, clock: ManualClock) -> None:
    later = await store.enqueue(JobSpec("sync", run_at=clock.now + 60))
    now_job = await store.enqueue(JobSpec("sync"))
    claimed = await store.claim("w1")
    assert claimed is not None and claimed.id == now_job.job_id
    assert claimed.state == "running" and claimed.attempts == 1 and claimed.lease_owner == "w1"
    assert await store.claim("w2") is None
    assert await store.next_due_at() == pytest.approx(clock.now + 30)  # w1's lease expiry
    assert await store.ack(claimed.id, "w1")
    assert await store.next_due_at() == pytest.approx(clock.now + 60)
    clock.advance(61)
    assert (await store.claim("w2", lease_s=300)).id == later.job_id


async def test_claim_by_kind(store: Store) -> None:
    await store.enqueue(JobSpec("refresh"))
    event_job = await store.enqueue(JobSpec("event"))
    assert (await store.claim("w", kinds=["event"])).id == event_job.job_id
    assert await store.claim("w", kinds=["event"]) is None
    assert await store.claim("w", kinds=[]) is None
    assert (await store.claim("w", kinds=["refresh", "sync"])).kind == "refresh"


async def test_expired_lease_is_claimed_again_and_old_worker_loses_it(
    store: Store, clock: ManualClock
) -> None:
    enqueued = await store.enqueue(JobSpec("event"))
    await store.claim("dead-worker", lease_s=30)
    clock.advance(29)
    assert await store.claim("w2") is None
    clock.advance(2)
    again = await store.claim("w2", lease_s=30)
    assert again.id == enqueued.job_id and again.attempts == 2 and again.lease_owner == "w2"
    assert not await store.ack(enqueued.job_id, "dead-worker")
    assert not await store.heartbeat(enqueued.job_id, "dead-worker")
    assert await store.fail(enqueued.job_id, "dead-worker", "late") is None
    assert await store.ack(enqueued.job_id, "w2")
    assert (await store.get_job(enqueued.job_id)).state == "done"


async def test_heartbeat_extends_the_lease(store: Store, clock: ManualClock) -> None:
    enqueued = await store.enqueue(JobSpec("event"))
    await store.claim("w1", lease_s=30)
    clock.advance(25)
    assert await store.heartbeat(enqueued.job_id, "w1", lease_s=30)
    clock.advance(25)  # past the first lease, inside the extended one
    assert await store.claim("w2") is None
    clock.advance(10)
    assert (await store.claim("w2")).id == enqueued.job_id


async def test_failures_retry_then_dead_letter_with_last_error(
    store: Store, clock: ManualClock
) -> None:
    enqueued = await store.enqueue(JobSpec("event", max_attempts=3))
    for attempt in (1, 2):
        job = await store.claim("w")
        assert job.attempts == attempt
        state = await store.fail(job.id, "w", f"boom {attempt}", retry_at=clock.now + 10)
        assert state == "queued"
        assert await store.claim("w") is None  # not due before retry_at
        clock.advance(10)
    job = await store.claim("w")
    assert job.attempts == 3
    assert await store.fail(job.id, "w", "boom 3", retry_at=clock.now) == "dead"
    dead = await store.get_job(enqueued.job_id)
    assert (dead.state, dead.last_error, dead.attempts) == ("dead", "boom 3", 3)
    assert await store.claim("w") is None
    assert [j.id for j in await store.list_jobs(state="dead")] == [enqueued.job_id]


async def test_permanent_failure_and_manual_retry(store: Store) -> None:
    enqueued = await store.enqueue(JobSpec("event"))
    job = await store.claim("w")
    assert await store.fail(job.id, "w", "400 bad request", permanent=True) == "failed"
    assert (await store.count_jobs())["failed"] == 1
    assert await store.retry_job(enqueued.job_id)
    assert not await store.retry_job(enqueued.job_id)  # already queued
    again = await store.claim("w")
    assert again.id == enqueued.job_id and again.attempts == 1
    assert again.last_error == "400 bad request"


async def test_job_whose_worker_keeps_dying_goes_dead(store: Store, clock: ManualClock) -> None:
    enqueued = await store.enqueue(JobSpec("event", max_attempts=2))
    await store.claim("w1", lease_s=5)
    clock.advance(6)
    await store.claim("w2", lease_s=5)
    clock.advance(6)
    assert await store.claim("w3") is None
    dead = await store.get_job(enqueued.job_id)
    assert dead.state == "dead" and "lease expired" in dead.last_error


async def test_list_and_count_jobs(store: Store) -> None:
    ids = [(await store.enqueue(JobSpec("sync", {"n": n}))).job_id for n in range(5)]
    first_page = await store.list_jobs(limit=2)
    second_page = await store.list_jobs(limit=10, after_id=first_page[-1].id)
    assert [j.id for j in first_page + second_page] == ids
    job = await store.claim("w")
    await store.ack(job.id, "w")
    counts = await store.count_jobs()
    assert counts == {"queued": 4, "running": 0, "done": 1, "failed": 0, "dead": 0}
    assert await store.list_jobs(state="done") == [await store.get_job(job.id)]
    with pytest.raises(ValueError):
        await store.list_jobs(state="exploded")


async def test_job_payload_round_trips(store: Store) -> None:
    payload = {"event": {"id": 12345678901234567890, "ids": ["a", 2], "n": None, "s": "ü"}}
    enqueued = await store.enqueue(JobSpec("event", payload, vendor="acme", user_id="u1"))
    job = await store.get_job(enqueued.job_id)
    assert job.payload == payload and (job.vendor, job.user_id) == ("acme", "u1")


async def test_duplicate_oauth_state_id_is_a_store_error(store: Store, clock: ManualClock) -> None:
    from engine.store import OAuthState

    state = OAuthState(state_id="same", vendor="acme", user_id="u", expires_at=clock.now + 5)
    await store.put_oauth_state(state)
    with pytest.raises(StoreError):
        await store.put_oauth_state(state)


def notification(key: str = "sha256:abc") -> InboxEvent:
    return InboxEvent(vendor="acme", event_key=key, repeatable=True)


def notification_job() -> JobSpec:
    return JobSpec("event", {"day": "2024-03-01"}, idempotency_key="acme/sha256:abc")


async def test_repeatable_event_collapses_only_while_its_job_waits(store: Store) -> None:
    first = await store.record_event_and_enqueue(notification(), notification_job())
    retry = await store.record_event_and_enqueue(notification(), notification_job())
    assert first.created and first.job_id is not None
    assert not retry.created and retry.job_id is None
    assert (await store.count_jobs())["queued"] == 1

    claimed = await store.claim("w1")
    assert claimed is not None and claimed.id == first.job_id
    while_running = await store.record_event_and_enqueue(notification(), notification_job())
    assert while_running.created and while_running.job_id not in (None, first.job_id)
    retry_of_second = await store.record_event_and_enqueue(notification(), notification_job())
    assert not retry_of_second.created

    assert await store.ack(first.job_id, "w1")
    second = await store.claim("w1")
    assert second is not None and second.id == while_running.job_id
    assert await store.ack(second.id, "w1")
    after_done = await store.record_event_and_enqueue(notification(), notification_job())
    assert after_done.created and after_done.job_id not in (first.job_id, second.id)

    jobs = {job.id: job for job in await store.list_jobs()}
    assert len(jobs) == 3
    # The latest generation holds the plain idempotency key; earlier ones keep theirs, suffixed.
    assert jobs[after_done.job_id].idempotency_key == "acme/sha256:abc"
    assert jobs[first.job_id].idempotency_key == f"acme/sha256:abc@{first.job_id}"


async def test_repeatable_event_without_job_then_with_one(store: Store) -> None:
    assert (await store.record_event_and_enqueue(notification(), None)).created
    assert not (await store.record_event_and_enqueue(notification(), None)).created
    connected = await store.record_event_and_enqueue(notification(), notification_job())
    assert connected.created and connected.job_id is not None
    assert (await store.count_jobs())["queued"] == 1


async def test_repeatable_event_after_its_inbox_row_was_pruned(store: Store, clock: ManualClock) -> None:
    first = await store.record_event_and_enqueue(notification(), notification_job())
    claimed = await store.claim("w1")
    assert claimed is not None
    assert await store.fail(first.job_id, "w1", "gone", permanent=True) == "failed"
    clock.advance(15 * 86400)
    await store.prune()
    again = await store.record_event_and_enqueue(notification(), notification_job())
    assert again.created and again.job_id not in (None, first.job_id)


async def test_event_with_an_id_never_makes_a_second_job(store: Store) -> None:
    first = await store.record_event_and_enqueue(event("id-1"), JobSpec("event", idempotency_key="k-1"))
    claimed = await store.claim("w1")
    assert claimed is not None and await store.ack(first.job_id, "w1")
    replay = await store.record_event_and_enqueue(event("id-1"), JobSpec("event", idempotency_key="k-1"))
    assert not replay.created and replay.job_id is None
    assert sum((await store.count_jobs()).values()) == 1


async def test_concurrent_deliveries_sharing_events_and_an_enqueued_job(store: Store) -> None:
    # A job already holds the idempotency key that event "held" asks for: the event adopts it.
    existing = await store.enqueue(JobSpec("event", idempotency_key="key-held"))
    deliveries = [
        [(event("shared"), JobSpec("event", idempotency_key="key-shared")),
         (event(f"own-{i}"), JobSpec("event", idempotency_key=f"key-own-{i}"))]
        for i in range(10)
    ]
    deliveries.append([(event("held"), JobSpec("event", idempotency_key="key-held")), (event("bare"), None)])
    results = await asyncio.gather(*(store.record_events(items) for items in deliveries))
    shared = [r[0] for r in results[:10]]
    assert sum(r.created for r in shared) == 1 and sum(r.job_id is not None for r in shared) == 1
    assert all(r[1].created and r[1].job_id for r in results[:10])
    held, bare = results[10]
    assert held.created and held.job_id == existing.job_id
    assert bare.created and bare.job_id is None
    assert (await store.count_jobs())["queued"] == 1 + 1 + 10
