"""The webhook inbox and the job queue."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from engine.store.codec import dump_payload, load_json, new_id
from engine.store.records import JOB_STATES, EnqueueResult, InboxEvent, Job, JobSpec, RecordResult
from engine.store.sql.dialect import (
    MAX_PAGE,
    Concern,
    Row,
    Tx,
    chunks,
    decoder,
    insert,
    record_columns,
    where,
)

JOB_COLUMNS = record_columns(Job)
INBOX_EVENT_COLUMNS = (
    "vendor, event_key, event_type, vendor_user_id, user_id, object_id, payload, job_id, "
    "received_at"
)
LEASE_LOST = "lease expired: the worker holding the job stopped before finishing it"
# A job that has not started yet: whatever it fetches will be the vendor's latest state.
WAITING_FIRST_RUN = "jobs.state = 'queued' AND jobs.attempts = 0"
_NEW_JOB = " ON CONFLICT (idempotency_key) DO NOTHING"
_NEW_EVENT = " ON CONFLICT (vendor, event_key) DO NOTHING"
_HOLDS = "WHERE id = ? AND lease_owner = ? AND state = 'running'"  # the caller holds the job

# Which due job runs next: live work first, then users' backfill windows in turns, then the oldest.
DUE_ORDER = "priority DESC, fair_seq, run_at, id"

# One statement, so one round trip: retire lapsed leases on their last attempt (dead letters, not
# work), then lease the oldest lapsed job, else the next due one. Rows another worker is claiming
# right now are skipped, never waited for. PostgreSQL only: SQLite has no data-modifying WITH.
_CLAIM_SKIP_LOCKED = (
    "WITH retired AS (UPDATE jobs SET state = 'dead', lease_owner = NULL, "
    "lease_expires_at = NULL, last_error = ?, updated_at = ? WHERE id IN ("
    "SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at <= ? "
    "AND attempts >= max_attempts FOR UPDATE SKIP LOCKED) RETURNING id), "
    "lapsed AS (SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at <= ? "
    "AND attempts < max_attempts{kinds} ORDER BY lease_expires_at LIMIT 1 "
    "FOR UPDATE SKIP LOCKED), "
    "due AS (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= ?{kinds} "
    f"ORDER BY {DUE_ORDER} LIMIT 1 FOR UPDATE SKIP LOCKED), "
    "pick AS (SELECT id FROM lapsed UNION ALL SELECT id FROM due LIMIT 1) "
    "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, "
    "attempts = attempts + 1, updated_at = ? FROM pick WHERE jobs.id = pick.id "
    f"RETURNING {', '.join('jobs.' + c.strip() for c in JOB_COLUMNS.split(','))}"
)


def check_job(job: JobSpec) -> None:
    if not job.kind:
        raise ValueError("job kind must not be empty")
    if job.max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")


def job_values(job_id: str, job: JobSpec, at: float) -> tuple[Any, ...]:
    return (
        job_id, job.kind, dump_payload(job.payload), "queued", 0, job.max_attempts,
        at if job.run_at is None else job.run_at, None, None, None,
        job.idempotency_key or None, job.vendor, job.user_id, at, at, job.priority, job.fair_seq,
    )  # fmt: skip


job_from_row = decoder(Job, payload=load_json)


@dataclass(frozen=True, slots=True, eq=False)
class _EventRow:
    event: InboxEvent
    job: JobSpec | None
    job_id: str | None  # the id the job gets if it is new
    at: float
    values: tuple[Any, ...]  # the inbox row
    job_row: tuple[Any, ...] | None  # the jobs row, if the event has a job

    @property
    def key(self) -> tuple[str, str]:
        return self.event.vendor, self.event.event_key


@dataclass(frozen=True, slots=True, eq=False)
class _Delivery:
    rows: list[_EventRow]
    webhook_from: tuple[tuple[str, str], ...]
    at: float


async def _insert_returning(
    tx: Tx, table: str, columns: str, tail: str, rows: list[Row]
) -> list[Row]:
    return [found for chunk in chunks(rows) for found in await tx.all(
        insert(table, columns, len(chunk)) + tail, list(chain.from_iterable(chunk)))]


async def _job_holding_key(tx: Tx, job: JobSpec) -> str:
    existing = await tx.one(
        "SELECT id FROM jobs WHERE idempotency_key = ?", (job.idempotency_key or None,))
    assert existing is not None
    return str(existing[0])


async def _insert_job(tx: Tx, job: JobSpec, at: float, job_id: str | None = None) -> EnqueueResult:
    job_id = job_id or new_id(at)
    if await tx.count(insert("jobs", JOB_COLUMNS) + _NEW_JOB, job_values(job_id, job, at)) == 1:
        return EnqueueResult(job_id, True)
    return EnqueueResult(await _job_holding_key(tx, job), False)


async def _adopt_existing_job(tx: Tx, row: _EventRow) -> str:
    """A job under the new event's idempotency key exists already: the event points to it."""
    assert row.job is not None
    job_id = await _job_holding_key(tx, row.job)
    await tx.count("UPDATE inbox_events SET job_id = ? WHERE vendor = ? AND event_key = ?",
                   (job_id, *row.key))
    return job_id


async def _record_repeatable(tx: Tx, row: _EventRow) -> RecordResult:
    """An event without a vendor id, whose repeat may be a new change (see `Jobs.record_events`). Its stored
    row, and a job holding its idempotency key, move aside unless that job is still waiting for
    its first run: the new delivery is then recorded as a new event with a new job."""
    assert row.job is not None and row.job_id is not None
    await tx.count(
        "UPDATE inbox_events SET event_key = event_key || '@' || COALESCE(job_id, ?) "
        "WHERE vendor = ? AND event_key = ? AND NOT EXISTS (SELECT 1 FROM jobs "
        f"WHERE jobs.id = inbox_events.job_id AND {WAITING_FIRST_RUN})", (new_id(row.at), *row.key))
    if row.job.idempotency_key:
        await tx.count("UPDATE jobs SET idempotency_key = idempotency_key || '@' || id "
                       f"WHERE idempotency_key = ? AND NOT ({WAITING_FIRST_RUN})",
                       (row.job.idempotency_key,))
    if await tx.count(insert("inbox_events", INBOX_EVENT_COLUMNS) + _NEW_EVENT, row.values) != 1:
        return RecordResult(created=False, job_id=None)
    job_id = (await _insert_job(tx, row.job, row.at, row.job_id)).job_id
    if job_id != row.job_id:
        job_id = await _adopt_existing_job(tx, row)
    return RecordResult(created=True, job_id=job_id)


async def _record_deliveries(tx: Tx, deliveries: list[_Delivery]) -> list[list[RecordResult]]:
    """Every delivery that queued up, in order: the new events of all of them in one statement,
    their jobs in another. With row locks, rows go in key order so that concurrent batches
    sharing events cannot deadlock, and the connections' stamps come after, in a fixed order."""
    outcomes: dict[int, RecordResult] = {}  # by id of the row
    fresh: list[_EventRow] = []
    seen: set[tuple[str, str]] = set()
    rows = [row for delivery in deliveries for row in delivery.rows]
    for row in sorted(rows, key=lambda row: row.key) if tx.dialect.row_locks else rows:
        if row.event.repeatable and row.job is not None:
            outcomes[id(row)] = await _record_repeatable(tx, row)
        elif row.key in seen:  # the same event twice in the group: the first one counts
            outcomes[id(row)] = RecordResult(created=False, job_id=None)
        else:
            seen.add(row.key)
            fresh.append(row)
    created = set(await _insert_returning(tx, "inbox_events", INBOX_EVENT_COLUMNS,
                                          _NEW_EVENT + " RETURNING vendor, event_key",
                                          [row.values for row in fresh]))
    job_rows = [row.job_row for row in fresh if row.job_row is not None and row.key in created]
    inserted = {job_id for (job_id,) in await _insert_returning(
        tx, "jobs", JOB_COLUMNS, _NEW_JOB + " RETURNING id", job_rows)}
    for row in fresh:
        if row.key not in created:  # already in the inbox
            outcomes[id(row)] = RecordResult(created=False, job_id=None)
            continue
        job_id = row.job_id
        if job_id is not None and job_id not in inserted:
            job_id = await _adopt_existing_job(tx, row)
        outcomes[id(row)] = RecordResult(created=True, job_id=job_id)
    stamped: dict[tuple[str, str], float] = {}
    for delivery in deliveries:
        for pair in delivery.webhook_from:
            stamped[pair] = max(stamped.get(pair, delivery.at), delivery.at)
    for (vendor, user_id), at in sorted(stamped.items()):
        await tx.count("UPDATE connections SET last_webhook_at = ?, updated_at = ? "
                       "WHERE vendor = ? AND user_id = ?", (at, at, vendor, user_id))
    return [[outcomes[id(row)] for row in delivery.rows] for delivery in deliveries]


class Jobs(Concern):
    """The webhook inbox and the job queue."""

    _job_waiters: set[asyncio.Future[None]]  # idle workers of this process (`wait_for_job`)

    def _waiters(self) -> set[asyncio.Future[None]]:
        if not hasattr(self, "_job_waiters"):
            self._job_waiters = set()
        return self._job_waiters

    def _queued(self) -> None:
        for waiter in self._waiters():
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for_job(self, timeout_s: float) -> None:
        """Return once a job is queued through this store object (so in this process), or after
        `timeout_s`: an idle worker wakes for new work rather than at its next poll. Jobs queued
        by other processes are found by polling."""
        waiter = asyncio.get_running_loop().create_future()
        waiters = self._waiters()
        waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            pass
        finally:
            waiters.discard(waiter)

    def _filters(self, kinds: Sequence[str] | None, key_prefix: str | None) -> tuple[str, list[Any]]:
        sql, params = "", list[Any]()
        if kinds is not None:
            condition, params = self._ex.dialect.any_of("kind", kinds)
            sql = " AND " + condition
        if key_prefix is not None:
            sql += " AND substr(idempotency_key, 1, ?) = ?"
            params = [*params, len(key_prefix), key_prefix]
        return sql, params

    async def record_events(
        self, items: Sequence[tuple[InboxEvent, JobSpec | None]], *,
        webhook_from: Sequence[tuple[str, str]] = (), now: float | None = None,
    ) -> list[RecordResult]:
        """In ONE transaction: for each event, insert it into the inbox unless (vendor, event_key)
        is already there, and enqueue its job only when the event is new. Each (vendor, user_id)
        connection in `webhook_from` gets `last_webhook_at` = now in the same transaction.

        A `repeatable` event that comes with a job is a duplicate only while the stored one's job
        is still queued and never claimed (that job will read the latest state anyway). Otherwise
        the stored row moves to `<event_key>@<its job id>`, a job holding the same idempotency
        key moves to `<key>@<its id>` too, and the event is recorded anew with a new job."""
        at = self._now(now)
        rows = []
        for event, job in items:
            if not event.vendor or not event.event_key:
                raise ValueError("inbox events need a vendor and an event key")
            job_id = job_row = None
            if job is not None:
                check_job(job)
                job_id = new_id(at)
                job_row = job_values(job_id, job, at)
            values = (event.vendor, event.event_key, event.event_type, event.vendor_user_id,
                      event.user_id, event.object_id, dump_payload(event.payload), job_id,
                      event.received_at or at)
            rows.append(_EventRow(event, job, job_id, at, values, job_row))
        results = await self._ex.grouped(_record_deliveries, _Delivery(rows, tuple(webhook_from), at))
        if any(result.job_id for result in results):
            self._queued()
        return results

    async def record_event_and_enqueue(
        self, event: InboxEvent, job: JobSpec | None, *, now: float | None = None
    ) -> RecordResult:
        return (await self.record_events([(event, job)], now=now))[0]

    async def enqueue(self, job: JobSpec, *, now: float | None = None) -> EnqueueResult:
        return (await self.enqueue_many([job], now=now))[0]

    async def enqueue_many(
        self, jobs: Sequence[JobSpec], *, now: float | None = None
    ) -> list[EnqueueResult]:
        """Enqueue several jobs in one transaction."""
        at = self._now(now)
        for job in jobs:
            check_job(job)

        async def enqueue_all(tx: Tx) -> list[EnqueueResult]:
            return [await _insert_job(tx, job, at) for job in jobs]

        results = await self._ex.transaction(enqueue_all)
        if any(result.created for result in results):
            self._queued()
        return results

    async def claim(
        self, worker_id: str, *, lease_s: float = 30.0, kinds: Sequence[str] | None = None,
        key_prefix: str | None = None, now: float | None = None,
    ) -> Job | None:
        """Lease one due job: queued with run_at <= now, or running with an expired lease (its
        worker died). Increments attempts. A job whose lease expired on its last attempt goes dead
        instead of being claimed again."""
        at = self._now(now)
        if kinds is not None and not kinds:
            return None
        kind_filter, kind_params = self._filters(kinds, key_prefix)
        lease = (worker_id, at + lease_s, at)
        if self._ex.dialect.row_locks:
            rows = await self._ex.write_returning(
                _CLAIM_SKIP_LOCKED.format(kinds=kind_filter),
                [LEASE_LOST, at, at, at, *kind_params, at, *kind_params, *lease])
            return job_from_row(rows[0]) if rows else None

        async def claim_one(tx: Tx) -> Job | None:  # the writer is alone: statement by statement
            await tx.count(
                "UPDATE jobs SET state = 'dead', lease_owner = NULL, lease_expires_at = NULL, "
                "last_error = ?, updated_at = ? "
                "WHERE state = 'running' AND lease_expires_at <= ? AND attempts >= max_attempts",
                (LEASE_LOST, at, at))
            candidate = await tx.one(
                "SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at <= ?"
                f"{kind_filter} ORDER BY lease_expires_at LIMIT 1", [at, *kind_params]
            ) or await tx.one(
                f"SELECT id FROM jobs WHERE state = 'queued' AND run_at <= ?{kind_filter} "
                f"ORDER BY {DUE_ORDER} LIMIT 1", [at, *kind_params])
            if candidate is None:
                return None
            row = await tx.one(
                "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, "
                f"attempts = attempts + 1, updated_at = ? WHERE id = ? RETURNING {JOB_COLUMNS}",
                (*lease, candidate[0]))
            return None if row is None else job_from_row(row)

        return await self._ex.transaction(claim_one)

    async def next_due_at(
        self, *, kinds: Sequence[str] | None = None, key_prefix: str | None = None
    ) -> float | None:
        """Earliest moment a job becomes claimable (a queued run_at or a lease expiry), or None
        when there is nothing to wait for; lets a worker sleep instead of polling."""
        if kinds is not None and not kinds:
            return None
        kind_filter, kind_params = self._filters(kinds, key_prefix)
        row = await self._ex.read_one(
            f"SELECT (SELECT MIN(run_at) FROM jobs WHERE state = 'queued'{kind_filter}), "
            f"(SELECT MIN(lease_expires_at) FROM jobs WHERE state = 'running'{kind_filter})",
            [*kind_params, *kind_params])
        times = [t for t in row or () if t is not None]
        return min(times) if times else None

    async def heartbeat(
        self, job_id: str, worker_id: str, *, lease_s: float = 30.0, now: float | None = None
    ) -> bool:
        """Extend the lease; False when this worker no longer holds the job."""
        at = self._now(now)
        return await self._ex.write(
            f"UPDATE jobs SET lease_expires_at = ?, updated_at = ? {_HOLDS}",
            (at + lease_s, at, job_id, worker_id)) == 1

    async def ack(self, job_id: str, worker_id: str, *, now: float | None = None) -> bool:
        """Mark done; False when this worker no longer holds the job."""
        return await self._ex.write(
            "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, "
            f"updated_at = ? {_HOLDS}", (self._now(now), job_id, worker_id)) == 1

    async def fail(
        self, job_id: str, worker_id: str, error: str, *, retry_at: float | None = None,
        permanent: bool = False, now: float | None = None,
    ) -> str | None:
        """Record a failed attempt with its error. `permanent` → state `failed`; attempts exhausted
        → `dead`; otherwise `queued` again at `retry_at` (default now). Returns the new state, or
        None when this worker no longer holds the job."""
        at = self._now(now)
        rows = await self._ex.write_returning(
            "UPDATE jobs SET state = CASE WHEN ? = 1 THEN 'failed' "
            "WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, "
            "lease_owner = NULL, lease_expires_at = NULL, last_error = ?, run_at = ?, "
            f"updated_at = ? {_HOLDS} RETURNING state",
            (int(permanent), error, at if retry_at is None else retry_at, at, job_id, worker_id))
        return rows[0][0] if rows else None

    async def release(
        self, job_id: str, worker_id: str, *, run_at: float | None = None, now: float | None = None
    ) -> bool:
        """Put a job this worker holds back in the queue at `run_at` (default now) without using
        an attempt: the claim's attempt is given back and `last_error` is kept. For waits that are
        not failures (a rate budget's next slot, a worker shutting down). False when this worker no
        longer holds the job."""
        at = self._now(now)
        return await self._ex.write(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, "
            f"attempts = {self._ex.dialect.greatest}(attempts - 1, 0), run_at = ?, updated_at = ? "
            + _HOLDS, (at if run_at is None else run_at, at, job_id, worker_id)) == 1

    async def get_job(self, job_id: str) -> Job | None:
        row = await self._ex.read_one(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else job_from_row(row)

    async def list_jobs(
        self, *, state: str | None = None, kind: str | None = None, limit: int = 100,
        after_id: str | None = None,
    ) -> list[Job]:
        """Jobs ordered by id (ids sort by creation time); page with `after_id`."""
        if state is not None and state not in JOB_STATES:
            raise ValueError(f"unknown job state {state!r}; one of {JOB_STATES}")
        filters, params = where(("state = ?", state), ("kind = ?", kind), ("id > ?", after_id))
        rows = await self._ex.read_all(
            f"SELECT {JOB_COLUMNS} FROM jobs {filters}ORDER BY id LIMIT ?",
            [*params, max(1, min(limit, MAX_PAGE))])
        return [job_from_row(row) for row in rows]

    async def retry_job(self, job_id: str, *, now: float | None = None) -> bool:
        """Requeue a `failed` or `dead` job now with a fresh attempt count."""
        at = self._now(now)
        return await self._ex.write(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?, updated_at = ? "
            "WHERE id = ? AND state IN ('failed', 'dead')", (at, at, job_id)) == 1

    async def count_jobs(self) -> dict[str, int]:
        """Number of jobs per state (every state present, zero included)."""
        rows = await self._ex.read_all("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        return {**dict.fromkeys(JOB_STATES, 0), **dict(rows)}
