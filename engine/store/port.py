"""The storage port: every durable thing the engine keeps, behind one async interface.

Conventions shared by every adapter:
- Operational instants (leases, expiries, run_at, budgets, created/updated) are UNIX epoch seconds
  as `float`. Sample times are timezone-aware `datetime`s (UTC).
- Every method that depends on the current time takes an optional `now`; without it the store's
  clock is used (tests inject a clock to move time).
- Tokens and PKCE verifiers are passed and returned in plaintext; the adapter encrypts them at rest
  (AES-GCM bound to vendor, user and field), so no caller can store one in the clear by mistake.
  Their dataclass fields are left out of `repr` so they never reach a log line by accident.
- JSON-shaped fields (`payload`, `extra`, `detail`) are plain dicts that must be JSON-serialisable.
"""

from __future__ import annotations

import abc
import asyncio
import random
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from engine.store.errors import LockTimeout

ConnectionStatus = Literal["active", "reauth_required", "revoked"]
CONNECTION_STATUSES: tuple[str, ...] = ("active", "reauth_required", "revoked")

JobState = Literal["queued", "running", "done", "failed", "dead"]
JOB_STATES: tuple[str, ...] = ("queued", "running", "done", "failed", "dead")

DEFAULT_MAX_ATTEMPTS = 8


# --------------------------------------------------------------------------- connections


@dataclass(frozen=True, slots=True)
class Connection:
    """One app user's link to one vendor account, with its (decrypted) tokens."""

    vendor: str
    user_id: str
    vendor_user_id: str | None
    status: str
    scopes: tuple[str, ...]
    access_token: str | None = field(repr=False)
    refresh_token: str | None = field(repr=False)
    token_expires_at: float | None
    # Incremented on every token change; pass it back as `expected_version` for compare-and-set.
    token_version: int
    extra: Mapping[str, Any]
    last_webhook_at: float | None
    last_pull_at: float | None
    last_error: str | None
    created_at: float
    updated_at: float


# --------------------------------------------------------------------------- oauth states


@dataclass(frozen=True, slots=True)
class OAuthState:
    """A pending authorization: single-use, expiring, bound to app user + vendor."""

    state_id: str
    vendor: str
    user_id: str
    expires_at: float
    pkce_verifier: str | None = field(default=None, repr=False)
    return_to: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    created_at: float = 0.0


# --------------------------------------------------------------------------- inbox and jobs


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """A received webhook event; (vendor, event_key) is its dedupe key."""

    vendor: str
    event_key: str
    event_type: str | None = None
    vendor_user_id: str | None = None
    user_id: str | None = None
    object_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    received_at: float = 0.0  # 0 → the store's clock
    # True for an event the vendor gave no id (its key is a hash of its content): an identical
    # event is then a duplicate only while this one's job has not started; see `record_events`.
    repeatable: bool = False


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job to enqueue. A non-empty `idempotency_key` makes the enqueue happen at most once."""

    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    run_at: float | None = None  # None → now
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    vendor: str | None = None
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: str
    payload: Mapping[str, Any]
    state: str
    attempts: int  # attempts used: claims, this one included, less those given back by `release`
    max_attempts: int
    run_at: float
    lease_owner: str | None
    lease_expires_at: float | None
    last_error: str | None
    idempotency_key: str | None
    vendor: str | None
    user_id: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    job_id: str
    created: bool  # False: a job with the same idempotency key already existed


@dataclass(frozen=True, slots=True)
class RecordResult:
    created: bool  # False: the event was already in the inbox (a replay); nothing was enqueued
    job_id: str | None  # the job enqueued with it (None on replay or when no job was given)


# --------------------------------------------------------------------------- rate budgets


@dataclass(frozen=True, slots=True)
class BudgetRequest:
    """`rate` requests per `period_s`, at most `burst` back to back from idle (GCRA)."""

    key: str
    rate: float
    period_s: float
    burst: int = 1
    cost: int = 1


@dataclass(frozen=True, slots=True)
class BudgetGrant:
    """`granted`: a slot is reserved — sleep `wait_s`, then send (do not acquire again).
    Not granted: the wait would exceed `max_wait_s`; nothing was reserved, try after `wait_s`."""

    granted: bool
    wait_s: float


@dataclass(frozen=True, slots=True)
class BudgetState:
    key: str
    tat: float  # GCRA theoretical arrival time
    emission_s: float  # seconds per request
    tau_s: float  # burst tolerance in seconds
    blocked_until: float  # set by penalize() from Retry-After / reset headers
    updated_at: float

    def available(self, now: float) -> int:
        """Requests that could go out right now without waiting."""
        if now < self.blocked_until:
            return 0
        if self.emission_s <= 0:
            return 0
        slack = self.tau_s - max(0.0, self.tat - now)
        return max(0, int(slack // self.emission_s) + 1)


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True, slots=True)
class SampleRecord:
    """One normalized sample to upsert; (user_id, source, sample_type, dedup_id) is its identity."""

    user_id: str
    source: str
    sample_type: str
    dedup_id: str
    timestamp_utc: datetime
    payload: Mapping[str, Any]
    end_utc: datetime | None = None
    vendor_updated_at: datetime | None = None
    resource: str | None = None
    vendor_record_id: str | None = None
    deleted: bool = False

    @classmethod
    def from_sample(cls, sample: Mapping[str, Any], dedup_id: str) -> SampleRecord:
        """Build from a normalized sample dict (`timestamp_utc`, `end_utc`, `provenance`, …)."""
        provenance = sample.get("provenance") or {}
        updated = provenance.get("vendor_updated_at")
        record_id = provenance.get("vendor_record_id")
        end = sample.get("end_utc")
        return cls(
            user_id=str(sample["user_id"]),
            source=str(sample["source"]),
            sample_type=str(sample["sample_type"]),
            dedup_id=dedup_id,
            timestamp_utc=parse_utc(sample["timestamp_utc"]),
            end_utc=parse_utc(end) if end else None,
            vendor_updated_at=parse_utc(updated) if updated else None,
            resource=provenance.get("resource"),
            vendor_record_id=None if record_id is None else str(record_id),
            deleted=bool(sample.get("deleted", False)),
            payload=sample,
        )


@dataclass(frozen=True, slots=True)
class StoredSample:
    user_id: str
    source: str
    sample_type: str
    dedup_id: str
    timestamp_utc: datetime
    end_utc: datetime | None
    deleted: bool
    vendor_updated_at: datetime | None
    resource: str | None
    vendor_record_id: str | None
    payload: dict[str, Any]  # the sample as stored, with `deleted` reflecting tombstones
    stored_at: float


@dataclass(frozen=True, slots=True)
class SamplePage:
    samples: list[StoredSample]
    next_cursor: str | None  # opaque; None when this is the last page


@dataclass(frozen=True, slots=True)
class UpsertResult:
    written: int  # inserted or replaced
    skipped: int  # not written because the stored vendor version is newer


# --------------------------------------------------------------------------- syncs


@dataclass(frozen=True, slots=True)
class Sync:
    sync_id: str
    vendor: str
    user_id: str
    windows_total: int
    windows_done: int
    records: int
    errors: int
    clipped_note: str | None
    last_error: str | None
    detail: Mapping[str, Any]
    created_at: float
    updated_at: float

    @property
    def finished(self) -> bool:
        return self.windows_done >= self.windows_total


# --------------------------------------------------------------------------- app-level state


@dataclass(frozen=True, slots=True)
class AppSubscription:
    """A webhook subscription the app (not a user) holds at a vendor."""

    vendor: str
    subscription_id: str
    expires_at: float | None
    detail: Mapping[str, Any]
    updated_at: float


@dataclass(frozen=True, slots=True)
class AwaitedWindow:
    """A history window the vendor accepted (e.g. HTTP 202) and will deliver later by push."""

    id: str
    sync_id: str | None
    vendor: str
    user_id: str
    resource: str
    start: datetime
    end: datetime
    requested_at: float


# --------------------------------------------------------------------------- locks


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lock: valid until `expires_at` unless released or extended."""

    name: str
    owner: str
    expires_at: float


def refresh_lock_name(vendor: str, user_id: str) -> str:
    return f"refresh\x1f{vendor}\x1f{user_id}"


def parse_utc(value: Any) -> datetime:
    """RFC 3339 string or aware datetime → aware datetime. Naive times are rejected."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise ValueError(  # noqa: TRY004 - bad input from a payload, reported as such
            f"expected an RFC 3339 timestamp, got {type(value).__name__}"
        )
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no UTC offset")
    return parsed


# --------------------------------------------------------------------------- the port


class Store(abc.ABC):
    """The async storage port. Adapters implement the abstract methods; the lock helpers here are
    shared (they only need the three `_lock_*` primitives)."""

    def __init__(self) -> None:
        self._local_lock_waiters: dict[str, asyncio.Lock] = {}
        self._local_lock_users: dict[str, int] = {}

    # ---- lifecycle
    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise `StoreUnavailable` if the database cannot answer a trivial query."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    # ---- connections
    @abc.abstractmethod
    async def upsert_connection(
        self,
        vendor: str,
        user_id: str,
        *,
        vendor_user_id: str | None,
        scopes: Sequence[str],
        access_token: str | None,
        refresh_token: str | None,
        token_expires_at: float | None,
        extra: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> Connection:
        """Create or replace the connection after a successful authorization: status `active`,
        new tokens (token_version + 1), last_error cleared. Raises `ConnectionConflict` when the
        vendor account is actively connected to another app user; a non-active row holding the
        same vendor account is detached (its vendor_user_id cleared) instead."""

    @abc.abstractmethod
    async def get_connection(self, vendor: str, user_id: str) -> Connection | None: ...

    @abc.abstractmethod
    async def get_connection_by_vendor_user(
        self, vendor: str, vendor_user_id: str
    ) -> Connection | None: ...

    async def get_user_id_by_vendor_user(self, vendor: str, vendor_user_id: str) -> str | None:
        """The app user connected to this vendor account, without reading (or decrypting) its
        tokens; adapters override it with a lighter query."""
        connection = await self.get_connection_by_vendor_user(vendor, vendor_user_id)
        return None if connection is None else connection.user_id

    @abc.abstractmethod
    async def list_connections(
        self,
        *,
        user_id: str | None = None,
        vendor: str | None = None,
        status: str | None = None,
    ) -> list[Connection]: ...

    @abc.abstractmethod
    async def update_tokens(
        self,
        vendor: str,
        user_id: str,
        *,
        expected_version: int,
        access_token: str,
        refresh_token: str | None,
        token_expires_at: float | None,
        scopes: Sequence[str] | None = None,
        now: float | None = None,
    ) -> Connection | None:
        """Compare-and-set on token_version. `refresh_token=None` keeps the stored one; `scopes=None`
        keeps the stored scopes. Returns the updated connection, or None when the version moved
        (someone else changed the tokens: re-read) or the connection is gone."""

    @abc.abstractmethod
    async def set_connection_status(
        self,
        vendor: str,
        user_id: str,
        status: str,
        *,
        last_error: str | None = None,
        expected_version: int | None = None,
        now: float | None = None,
    ) -> bool:
        """Set status (and last_error). With `expected_version`, only if the tokens did not change
        since that version (the `invalid_grant` rule). True when a row changed."""

    @abc.abstractmethod
    async def record_connection_activity(
        self,
        vendor: str,
        user_id: str,
        *,
        last_webhook_at: float | None = None,
        last_pull_at: float | None = None,
        last_error: str | None = None,
        clear_error: bool = False,
        now: float | None = None,
    ) -> bool:
        """Update the given activity fields only (None leaves a field as it is)."""

    @abc.abstractmethod
    async def purge_tokens(
        self, vendor: str, user_id: str, *, status: str = "revoked", now: float | None = None
    ) -> bool:
        """Drop both tokens (token_version + 1) and set `status`; the row stays for history."""

    @abc.abstractmethod
    async def delete_connection(self, vendor: str, user_id: str) -> bool: ...

    # ---- single-flight locks (lease rows shared by every process on the store)
    @abc.abstractmethod
    async def _lock_try_acquire(self, name: str, owner: str, ttl_s: float) -> float | None:
        """Take the lease if free or expired; return its expiry, or None if someone else holds it."""

    @abc.abstractmethod
    async def _lock_extend(self, name: str, owner: str, ttl_s: float) -> float | None: ...

    @abc.abstractmethod
    async def _lock_release(self, name: str, owner: str) -> None: ...

    @asynccontextmanager
    async def lock(
        self, name: str, *, ttl_s: float = 30.0, wait_s: float = 30.0
    ) -> AsyncIterator[Lease]:
        """Hold the named lease across every process sharing this store. Waits up to `wait_s`
        (then `LockTimeout`). The lease lapses after `ttl_s` unless extended with `extend_lock`.
        Callers of refresh-like work must re-read state after acquiring: the previous holder may
        already have done the work."""
        local = self._local_lock_waiters.setdefault(name, asyncio.Lock())
        self._local_lock_users[name] = self._local_lock_users.get(name, 0) + 1
        try:
            # Waiters in this process queue locally, so only one of them polls the database.
            deadline = asyncio.get_running_loop().time() + wait_s
            try:
                await asyncio.wait_for(local.acquire(), timeout=wait_s)
            except TimeoutError:
                raise LockTimeout(f"timed out after {wait_s:g}s waiting for lock") from None
            try:
                lease = await self._acquire_lease(name, ttl_s, deadline, wait_s)
                try:
                    yield lease
                finally:
                    await self._lock_release(name, lease.owner)
            finally:
                local.release()
        finally:
            self._local_lock_users[name] -= 1
            if self._local_lock_users[name] == 0:
                del self._local_lock_users[name]
                self._local_lock_waiters.pop(name, None)

    def refresh_lock(
        self, vendor: str, user_id: str, *, ttl_s: float = 30.0, wait_s: float = 30.0
    ):  # -> AsyncContextManager[Lease]
        """Single-flight token refresh for one connection: `async with store.refresh_lock(v, u):`."""
        return self.lock(refresh_lock_name(vendor, user_id), ttl_s=ttl_s, wait_s=wait_s)

    async def extend_lock(self, lease: Lease, ttl_s: float = 30.0) -> Lease | None:
        """Push the lease's expiry to now + ttl_s; None if it already lapsed to someone else."""
        expires = await self._lock_extend(lease.name, lease.owner, ttl_s)
        return None if expires is None else Lease(lease.name, lease.owner, expires)

    async def _acquire_lease(
        self, name: str, ttl_s: float, deadline: float, wait_s: float
    ) -> Lease:
        owner = secrets.token_hex(12)
        loop = asyncio.get_running_loop()
        delay = 0.005
        while True:
            expires = await self._lock_try_acquire(name, owner, ttl_s)
            if expires is not None:
                return Lease(name, owner, expires)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise LockTimeout(f"timed out after {wait_s:g}s waiting for lock")
            await asyncio.sleep(min(remaining, delay * (0.5 + random.random())))
            delay = min(delay * 2, 0.1)

    # ---- oauth states
    @abc.abstractmethod
    async def put_oauth_state(self, state: OAuthState) -> None:
        """Store a pending authorization (`created_at` 0 → now). The state_id must be unguessable."""

    @abc.abstractmethod
    async def consume_oauth_state(
        self, state_id: str, *, now: float | None = None
    ) -> OAuthState | None:
        """Atomically take the state out (single use). None if unknown, already used or expired."""

    # ---- inbox and jobs
    @abc.abstractmethod
    async def record_events(
        self,
        items: Sequence[tuple[InboxEvent, JobSpec | None]],
        *,
        webhook_from: Sequence[tuple[str, str]] = (),
        now: float | None = None,
    ) -> list[RecordResult]:
        """In ONE transaction: for each event, insert it into the inbox unless (vendor, event_key)
        is already there, and enqueue its job only when the event is new. Each (vendor, user_id)
        connection in `webhook_from` gets `last_webhook_at` = now in the same transaction.

        A `repeatable` event that comes with a job is a duplicate only while the stored one's job
        is still queued and never claimed (that job will read the latest state anyway). Otherwise
        the stored row moves to `<event_key>@<its job id>`, a job holding the same idempotency
        key moves to `<key>@<its id>` too, and the event is recorded anew with a new job."""

    async def record_event_and_enqueue(
        self, event: InboxEvent, job: JobSpec | None, *, now: float | None = None
    ) -> RecordResult:
        return (await self.record_events([(event, job)], now=now))[0]

    @abc.abstractmethod
    async def enqueue(self, job: JobSpec, *, now: float | None = None) -> EnqueueResult: ...

    @abc.abstractmethod
    async def enqueue_many(
        self, jobs: Sequence[JobSpec], *, now: float | None = None
    ) -> list[EnqueueResult]:
        """Enqueue several jobs in one transaction."""

    @abc.abstractmethod
    async def claim(
        self,
        worker_id: str,
        *,
        lease_s: float = 30.0,
        kinds: Sequence[str] | None = None,
        now: float | None = None,
    ) -> Job | None:
        """Lease one due job: queued with run_at <= now, or running with an expired lease (its
        worker died). Increments attempts. A job whose lease expired on its last attempt goes dead
        instead of being claimed again."""

    @abc.abstractmethod
    async def next_due_at(self, *, kinds: Sequence[str] | None = None) -> float | None:
        """Earliest moment a job becomes claimable (a queued run_at or a lease expiry), or None
        when there is nothing to wait for; lets a worker sleep instead of polling."""

    @abc.abstractmethod
    async def heartbeat(
        self, job_id: str, worker_id: str, *, lease_s: float = 30.0, now: float | None = None
    ) -> bool:
        """Extend the lease; False when this worker no longer holds the job."""

    @abc.abstractmethod
    async def ack(self, job_id: str, worker_id: str, *, now: float | None = None) -> bool:
        """Mark done; False when this worker no longer holds the job."""

    @abc.abstractmethod
    async def fail(
        self,
        job_id: str,
        worker_id: str,
        error: str,
        *,
        retry_at: float | None = None,
        permanent: bool = False,
        now: float | None = None,
    ) -> str | None:
        """Record a failed attempt with its error. `permanent` → state `failed`; attempts exhausted
        → `dead`; otherwise `queued` again at `retry_at` (default now). Returns the new state, or
        None when this worker no longer holds the job."""

    @abc.abstractmethod
    async def release(
        self, job_id: str, worker_id: str, *, run_at: float | None = None, now: float | None = None
    ) -> bool:
        """Put a job this worker holds back in the queue at `run_at` (default now) without using
        an attempt: the claim's attempt is given back and `last_error` is kept. For waits that are
        not failures (a rate budget's next slot, a worker shutting down). False when this worker no
        longer holds the job."""

    @abc.abstractmethod
    async def get_job(self, job_id: str) -> Job | None: ...

    @abc.abstractmethod
    async def list_jobs(
        self,
        *,
        state: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        after_id: str | None = None,
    ) -> list[Job]:
        """Jobs ordered by id (ids sort by creation time); page with `after_id`."""

    @abc.abstractmethod
    async def retry_job(self, job_id: str, *, now: float | None = None) -> bool:
        """Requeue a `failed` or `dead` job now with a fresh attempt count."""

    @abc.abstractmethod
    async def count_jobs(self) -> dict[str, int]:
        """Number of jobs per state (every state present, zero included)."""

    # ---- cursors
    @abc.abstractmethod
    async def get_cursor(self, vendor: str, user_id: str, resource: str) -> str | None: ...

    @abc.abstractmethod
    async def set_cursor(
        self, vendor: str, user_id: str, resource: str, value: str, *, now: float | None = None
    ) -> None: ...

    # ---- rate budgets
    @abc.abstractmethod
    async def acquire_budget(
        self,
        requests: Sequence[BudgetRequest],
        *,
        max_wait_s: float = float("inf"),
        now: float | None = None,
    ) -> BudgetGrant:
        """Reserve one slot in every listed budget at once (all or none), atomically across
        processes. The grant's wait is the latest of the budgets' waits."""

    @abc.abstractmethod
    async def penalize_budget(self, key: str, until: float, *, now: float | None = None) -> None:
        """No slot of `key` before `until` (Retry-After / rate-limit reset feedback)."""

    @abc.abstractmethod
    async def get_budget(self, key: str) -> BudgetState | None: ...

    @abc.abstractmethod
    async def list_budgets(self, prefix: str = "") -> list[BudgetState]: ...

    # ---- samples
    @abc.abstractmethod
    async def upsert_samples(
        self, samples: Sequence[SampleRecord], *, now: float | None = None
    ) -> UpsertResult:
        """Idempotent on (user_id, source, sample_type, dedup_id); a row is replaced unless the
        stored vendor_updated_at is newer than the incoming one. One transaction."""

    @abc.abstractmethod
    async def tombstone_samples(
        self,
        user_id: str,
        source: str,
        *,
        vendor_record_id: str,
        resource: str | None = None,
        deleted_at: datetime | None = None,
        now: float | None = None,
    ) -> int:
        """Mark every sample of that vendor record deleted (newer stored versions are kept).
        `deleted_at` becomes their vendor version so an older re-fetch cannot resurrect them.
        Returns the number of samples marked."""

    @abc.abstractmethod
    async def tombstone_samples_in_window(
        self,
        user_id: str,
        source: str,
        resource: str,
        start: datetime,
        end: datetime,
        *,
        stored_before: float | None = None,
        now: float | None = None,
    ) -> int:
        """Mark deleted every sample of `resource` whose timestamp_utc is in [start, end), for a
        vendor that reports deletions as time ranges rather than record ids. Vendor versions are
        left as they are, so a re-read of the range brings back whatever the vendor still holds.
        With `stored_before`, samples written at or after that instant (a re-read that already
        ran) are kept. Returns the number of samples marked."""

    @abc.abstractmethod
    async def list_samples(
        self,
        user_id: str,
        *,
        sample_types: Sequence[str] | None = None,
        source: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_deleted: bool = True,
        limit: int = 100,
        cursor: str | None = None,
    ) -> SamplePage:
        """Samples ordered by (timestamp_utc, stable tie-break), since <= t < until. `cursor` is
        the previous page's next_cursor (`InvalidCursor` if malformed)."""

    @abc.abstractmethod
    async def delete_user_data(self, user_id: str) -> dict[str, int]:
        """Remove everything held for an app user (connections, tokens, states, cursors, samples,
        inbox events, jobs, syncs). Returns rows deleted per area."""

    # ---- syncs
    @abc.abstractmethod
    async def create_sync(
        self,
        sync_id: str,
        vendor: str,
        user_id: str,
        *,
        windows_total: int = 0,
        clipped_note: str | None = None,
        detail: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> Sync: ...

    @abc.abstractmethod
    async def update_sync(
        self,
        sync_id: str,
        *,
        add_windows_total: int = 0,
        add_windows_done: int = 0,
        add_records: int = 0,
        add_errors: int = 0,
        last_error: str | None = None,
        now: float | None = None,
    ) -> Sync | None:
        """Atomic increments; returns the updated sync or None if unknown."""

    @abc.abstractmethod
    async def get_sync(self, sync_id: str) -> Sync | None: ...

    # ---- app-level secrets and subscriptions
    @abc.abstractmethod
    async def put_app_secret(self, vendor: str, name: str, value: str, *, now: float | None = None) -> None:
        """Keep a secret a vendor issued to the app (encrypted at rest); replaces the previous one."""

    @abc.abstractmethod
    async def get_app_secrets(self, vendor: str) -> dict[str, str]:
        """Every stored app secret of `vendor`, decrypted: {name: value}."""

    @abc.abstractmethod
    async def put_app_subscription(
        self,
        vendor: str,
        subscription_id: str,
        *,
        expires_at: float | None,
        detail: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> AppSubscription: ...

    @abc.abstractmethod
    async def list_app_subscriptions(self, vendor: str | None = None) -> list[AppSubscription]:
        """Ordered by vendor, then expiry (unknown expiry last)."""

    @abc.abstractmethod
    async def delete_app_subscription(self, vendor: str, subscription_id: str) -> bool: ...

    # ---- windows awaiting delivery by push
    @abc.abstractmethod
    async def add_awaited_window(
        self,
        vendor: str,
        user_id: str,
        resource: str,
        *,
        start: datetime,
        end: datetime,
        sync_id: str | None = None,
        now: float | None = None,
    ) -> AwaitedWindow: ...

    @abc.abstractmethod
    async def complete_awaited_windows(
        self, vendor: str, user_id: str, resource: str, *, start: datetime, end: datetime
    ) -> list[AwaitedWindow]:
        """Remove and return the awaited windows of that resource overlapping [start, end]
        (atomically, so each window is completed once however many deliveries race)."""

    @abc.abstractmethod
    async def expire_awaited_windows(
        self, *, older_than_s: float, now: float | None = None
    ) -> list[AwaitedWindow]:
        """Remove and return windows requested more than `older_than_s` ago."""

    @abc.abstractmethod
    async def list_awaited_windows(
        self, *, sync_id: str | None = None, vendor: str | None = None, user_id: str | None = None
    ) -> list[AwaitedWindow]: ...

    # ---- housekeeping
    @abc.abstractmethod
    async def prune(
        self,
        *,
        inbox_older_than_s: float = 14 * 86400,
        finished_jobs_older_than_s: float = 7 * 86400,
        now: float | None = None,
    ) -> dict[str, int]:
        """Delete expired oauth states, old inbox events and old done jobs."""
