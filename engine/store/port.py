"""The storage port: every durable thing the engine keeps, as small interfaces by concern.

A caller that needs one concern can type its store as that interface (`ConnectionStore`,
`JobStore`, …); `Store` is all of them, which every adapter implements. The records they take and
return, and the conventions they share (epoch-second instants, optional `now`, plaintext secrets
encrypted at rest), are in `engine.store.records`; the records are re-exported here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from engine.store.outbox_port import OutboxStore
from engine.store.records import (  # noqa: F401 - the records are part of the port
    JOB_STATES,
    AppSubscription,
    AwaitedWindow,
    BudgetGrant,
    BudgetRequest,
    BudgetState,
    Connection,
    EnqueueResult,
    Erasure,
    InboxEvent,
    Job,
    JobSpec,
    Lease,
    OAuthState,
    RawHead,
    RawVersion,
    RecordResult,
    RemapProgress,
    RemapRun,
    SamplePage,
    SampleProvenance,
    SampleRecord,
    StoredSample,
    Sync,
    UpsertResult,
)


class ConnectionStore(Protocol):
    """Connections and their tokens."""

    async def upsert_connection(
        self, vendor: str, user_id: str, *, vendor_user_id: str | None, scopes: Sequence[str],
        access_token: str | None, refresh_token: str | None, token_expires_at: float | None,
        extra: Mapping[str, Any] | None = None, now: float | None = None,
    ) -> Connection:
        """Create or replace the connection after a successful authorization: status `active`,
        new tokens (token_version + 1), last_error cleared. Raises `ConnectionConflict` when the
        vendor account is actively connected to another app user; a non-active row holding the
        same vendor account is detached (its vendor_user_id cleared) instead."""

    async def get_connection(self, vendor: str, user_id: str) -> Connection | None: ...

    async def get_connection_by_vendor_user(
        self, vendor: str, vendor_user_id: str
    ) -> Connection | None: ...

    async def get_user_id_by_vendor_user(self, vendor: str, vendor_user_id: str) -> str | None:
        """The app user connected to this vendor account: a point read that neither reads nor
        decrypts its tokens (the webhook intake's lookup)."""

    async def list_connections(
        self, *, user_id: str | None = None, vendor: str | None = None, status: str | None = None
    ) -> list[Connection]: ...

    async def update_tokens(
        self, vendor: str, user_id: str, *, expected_version: int, access_token: str,
        refresh_token: str | None, token_expires_at: float | None,
        scopes: Sequence[str] | None = None, now: float | None = None,
    ) -> Connection | None:
        """Compare-and-set on token_version. `refresh_token=None` keeps the stored one; `scopes=None`
        keeps the stored scopes. Returns the updated connection, or None when the version moved
        (someone else changed the tokens: re-read) or the connection is gone."""

    async def set_connection_status(
        self, vendor: str, user_id: str, status: str, *, last_error: str | None = None,
        expected_version: int | None = None, now: float | None = None,
    ) -> bool:
        """Set status (and last_error). With `expected_version`, only if the tokens did not change
        since that version (the `invalid_grant` rule). True when a row changed."""

    async def record_connection_activity(
        self, vendor: str, user_id: str, *, last_webhook_at: float | None = None,
        last_pull_at: float | None = None, last_error: str | None = None,
        clear_error: bool = False, now: float | None = None,
    ) -> bool:
        """Update the given activity fields only (None leaves a field as it is)."""

    async def purge_tokens(
        self, vendor: str, user_id: str, *, status: str = "revoked", now: float | None = None
    ) -> bool:
        """Drop both tokens (token_version + 1) and set `status`; the row stays for history."""

    async def delete_connection(self, vendor: str, user_id: str) -> bool: ...


class OAuthStateStore(Protocol):
    """Pending authorizations."""

    async def put_oauth_state(self, state: OAuthState) -> None:
        """Store a pending authorization (`created_at` 0 → now). The state_id must be unguessable."""

    async def consume_oauth_state(
        self, state_id: str, *, now: float | None = None
    ) -> OAuthState | None:
        """Atomically take the state out (single use). None if unknown, already used or expired."""


class JobStore(Protocol):
    """The webhook inbox and the job queue."""

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

    async def record_event_and_enqueue(
        self, event: InboxEvent, job: JobSpec | None, *, now: float | None = None
    ) -> RecordResult: ...

    async def enqueue(self, job: JobSpec, *, now: float | None = None) -> EnqueueResult: ...

    async def enqueue_many(
        self, jobs: Sequence[JobSpec], *, now: float | None = None
    ) -> list[EnqueueResult]:
        """Enqueue several jobs in one transaction."""

    async def claim(
        self, worker_id: str, *, lease_s: float = 30.0, kinds: Sequence[str] | None = None,
        key_prefix: str | None = None, now: float | None = None,
    ) -> Job | None:
        """Lease one due job: queued with run_at <= now, or running with an expired lease (its
        worker died). Increments attempts. A job whose lease expired on its last attempt goes dead
        instead of being claimed again."""

    async def next_due_at(
        self, *, kinds: Sequence[str] | None = None, key_prefix: str | None = None
    ) -> float | None:
        """Earliest moment a job becomes claimable (a queued run_at or a lease expiry), or None
        when there is nothing to wait for; lets a worker sleep instead of polling."""

    async def heartbeat(
        self, job_id: str, worker_id: str, *, lease_s: float = 30.0, now: float | None = None
    ) -> bool:
        """Extend the lease; False when this worker no longer holds the job."""

    async def ack(self, job_id: str, worker_id: str, *, now: float | None = None) -> bool:
        """Mark done; False when this worker no longer holds the job."""

    async def fail(
        self, job_id: str, worker_id: str, error: str, *, retry_at: float | None = None,
        permanent: bool = False, now: float | None = None,
    ) -> str | None:
        """Record a failed attempt with its error. `permanent` → state `failed`; attempts exhausted
        → `dead`; otherwise `queued` again at `retry_at` (default now). Returns the new state, or
        None when this worker no longer holds the job."""

    async def release(
        self, job_id: str, worker_id: str, *, run_at: float | None = None, now: float | None = None
    ) -> bool:
        """Put a job this worker holds back in the queue at `run_at` (default now) without using
        an attempt: the claim's attempt is given back and `last_error` is kept. For waits that are
        not failures (a rate budget's next slot, a worker shutting down). False when this worker no
        longer holds the job."""

    async def get_job(self, job_id: str) -> Job | None: ...

    async def list_jobs(
        self, *, state: str | None = None, kind: str | None = None, limit: int = 100,
        after_id: str | None = None,
    ) -> list[Job]:
        """Jobs ordered by id (ids sort by creation time); page with `after_id`."""

    async def retry_job(self, job_id: str, *, now: float | None = None) -> bool:
        """Requeue a `failed` or `dead` job now with a fresh attempt count."""

    async def count_jobs(self) -> dict[str, int]:
        """Number of jobs per state (every state present, zero included)."""


class BudgetStore(Protocol):
    """Rate budgets and single-flight locks (lease rows shared by every process on the store)."""

    async def acquire_budget(
        self, requests: Sequence[BudgetRequest], *, max_wait_s: float = float("inf"),
        now: float | None = None,
    ) -> BudgetGrant:
        """Reserve one slot in every listed budget at once (all or none), atomically across
        processes. The grant's wait is the latest of the budgets' waits."""

    async def penalize_budget(self, key: str, until: float, *, now: float | None = None) -> None:
        """No slot of `key` before `until` (Retry-After / rate-limit reset feedback)."""

    async def get_budget(self, key: str) -> BudgetState | None: ...

    async def list_budgets(self, prefix: str = "") -> list[BudgetState]: ...

    def lock(
        self, name: str, *, ttl_s: float = 30.0, wait_s: float = 30.0
    ) -> AbstractAsyncContextManager[Lease]:
        """Hold the named lease across every process sharing this store. Waits up to `wait_s`
        (then `LockTimeout`). The lease lapses after `ttl_s` unless extended with `extend_lock`.
        Callers of refresh-like work must re-read state after acquiring: the previous holder may
        already have done the work."""

    def refresh_lock(
        self, vendor: str, user_id: str, *, ttl_s: float = 30.0, wait_s: float = 30.0
    ) -> AbstractAsyncContextManager[Lease]:
        """Single-flight token refresh for one connection: `async with store.refresh_lock(v, u):`."""

    async def extend_lock(self, lease: Lease, ttl_s: float = 30.0) -> Lease | None:
        """Push the lease's expiry to now + ttl_s; None if it already lapsed to someone else."""


class SampleStore(Protocol):
    """Normalized samples."""

    async def count_samples(self, *, user_id: str | None = None) -> int:
        """Live (not deleted) samples, of one app user or of all."""

    async def upsert_samples(
        self, samples: Sequence[SampleRecord], *, now: float | None = None, origin: str | None = None
    ) -> UpsertResult:
        """Idempotent on (user_id, source, sample_type, dedup_id); a row is replaced unless the
        stored vendor_updated_at is newer than the incoming one. One transaction, which also
        writes a samples.changed event per (user, source, type) that changed (`origin`: live,
        backfill or remap; None takes each sample's from its provenance channel)."""

    async def tombstone_samples(
        self, user_id: str, source: str, *, vendor_record_id: str, resource: str | None = None,
        deleted_at: datetime | None = None, now: float | None = None, origin: str = "live",
    ) -> int:
        """Mark every sample of that vendor record deleted (newer stored versions are kept).
        `deleted_at` becomes their vendor version so an older re-fetch cannot resurrect them.
        Returns the number of samples marked."""

    async def tombstone_samples_in_window(
        self, user_id: str, source: str, resource: str, start: datetime, end: datetime, *,
        stored_before: float | None = None, now: float | None = None, origin: str = "live",
    ) -> int:
        """Mark deleted every sample of `resource` whose timestamp_utc is in [start, end), for a
        vendor that reports deletions as time ranges rather than record ids. Vendor versions are
        left as they are, so a re-read of the range brings back whatever the vendor still holds.
        With `stored_before`, samples written at or after that instant (a re-read that already
        ran) are kept. Returns the number of samples marked."""

    async def list_samples(
        self, user_id: str, *, sample_types: Sequence[str] | None = None,
        source: str | None = None, since: datetime | None = None, until: datetime | None = None,
        include_deleted: bool = True, limit: int = 100, cursor: str | None = None,
    ) -> SamplePage:
        """Samples ordered by (timestamp_utc, stable tie-break), since <= t < until. `cursor` is
        the previous page's next_cursor (`InvalidCursor` if malformed)."""


class SyncStore(Protocol):
    """Syncs, pull cursors and history windows awaiting delivery by push."""

    async def create_sync(
        self, sync_id: str, vendor: str, user_id: str, *, windows_total: int = 0,
        clipped_note: str | None = None, detail: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> Sync: ...

    async def update_sync(
        self, sync_id: str, *, add_windows_total: int = 0, add_windows_done: int = 0,
        add_records: int = 0, add_errors: int = 0, last_error: str | None = None,
        now: float | None = None,
    ) -> Sync | None:
        """Atomic increments; returns the updated sync or None if unknown."""

    async def get_sync(self, sync_id: str) -> Sync | None: ...

    async def cancel_sync(self, sync_id: str, *, now: float | None = None) -> Sync | None:
        """In one transaction: remove the sync's queued windows (running ones finish), count them
        as cancelled and stamp `cancelled_at` (kept from the first cancel). None if unknown."""

    async def get_cursor(self, vendor: str, user_id: str, resource: str) -> str | None: ...

    async def set_cursor(
        self, vendor: str, user_id: str, resource: str, value: str, *, now: float | None = None
    ) -> None: ...

    async def add_awaited_window(
        self, vendor: str, user_id: str, resource: str, *, start: datetime, end: datetime,
        sync_id: str | None = None, now: float | None = None,
    ) -> AwaitedWindow: ...

    async def complete_awaited_windows(
        self, vendor: str, user_id: str, resource: str, *, start: datetime, end: datetime
    ) -> list[AwaitedWindow]:
        """Remove and return the awaited windows of that resource overlapping [start, end]
        (atomically, so each window is completed once however many deliveries race)."""

    async def expire_awaited_windows(
        self, *, older_than_s: float, now: float | None = None
    ) -> list[AwaitedWindow]:
        """Remove and return windows requested more than `older_than_s` ago."""

    async def list_awaited_windows(
        self, *, sync_id: str | None = None, vendor: str | None = None, user_id: str | None = None
    ) -> list[AwaitedWindow]: ...


class AppStateStore(Protocol):
    """What the app (not a user) holds at a vendor: secrets it was issued, its subscriptions."""

    async def put_app_secret(
        self, vendor: str, name: str, value: str, *, now: float | None = None
    ) -> None:
        """Keep a secret a vendor issued to the app (encrypted at rest); replaces the previous one."""

    async def get_app_secrets(self, vendor: str) -> dict[str, str]:
        """Every stored app secret of `vendor`, decrypted: {name: value}."""

    async def put_app_subscription(
        self, vendor: str, subscription_id: str, *, expires_at: float | None,
        detail: Mapping[str, Any] | None = None, now: float | None = None,
    ) -> AppSubscription: ...

    async def list_app_subscriptions(self, vendor: str | None = None) -> list[AppSubscription]:
        """Ordered by vendor, then expiry (unknown expiry last)."""

    async def delete_app_subscription(self, vendor: str, subscription_id: str) -> bool: ...


class Housekeeping(Protocol):
    """The store as a whole: liveness, closing, retention and erasure."""

    async def ping(self) -> None:
        """Raise `StoreUnavailable` if the database cannot answer a trivial query."""

    async def close(self) -> None: ...

    async def delete_user_data(
        self, user_id: str, *, vendor: str | None = None, reason: str = "user_deleted",
        now: float | None = None,
    ) -> dict[str, int]:
        """Remove every row that names the app user or a vendor account linked to them, in every
        table (raw archive, inbox payloads, queued jobs, samples, tokens, …), and record an
        `Erasure` naming the user only by a keyed hash. With `vendor`, only that vendor's data
        (a disconnect: the connection row stays, its tokens already purged). Rows per table."""

    async def prune(
        self, *, inbox_older_than_s: float = 14 * 86400,
        finished_jobs_older_than_s: float = 7 * 86400, raw_older_than_s: float | None = None,
        now: float | None = None,
    ) -> dict[str, int]:
        """Delete expired oauth states, old inbox events, old done jobs and re-map runs, and with
        `raw_older_than_s` archived raw records older than that."""


class RawArchiveStore(Protocol):
    """Every distinct version of the vendor records the engine fetched or received from an
    authenticated delivery, and what re-deriving samples from them needs."""

    async def raw_head_ids(self, raw_keys: Sequence[str]) -> dict[str, str]:
        """The latest archived version id of each of these records that has one."""

    async def archive_raw(
        self, versions: Sequence[RawVersion], *, now: float | None = None
    ) -> int:
        """Keep each version as its record's latest (`head`). A version equal to the stored head
        costs one hash compare and no write; a version seen before becomes the head again. Returns
        the number of versions written."""

    async def raw_heads(
        self, vendor: str, *, user_id: str | None = None, resources: Sequence[str] | None = None,
        after: tuple[str, str, str] | None = None, limit: int = 1000,
    ) -> list[RawHead]:
        """Latest versions ordered by (user_id, resource, record_key), after that triple."""

    async def count_raw_heads(
        self, vendor: str, *, user_id: str | None = None, resources: Sequence[str] | None = None,
    ) -> int: ...

    async def samples_of_raw(
        self, source: str, records: Sequence[tuple[str, str]]
    ) -> list[StoredSample]:
        """Every stored sample mapped from one of these archived records, (user id, raw key)
        each, tombstones included."""

    async def apply_remap(
        self, upserts: Sequence[SampleRecord], removed: Sequence[tuple[str, str, str, str]], *,
        restamped: Sequence[SampleRecord] = (), run: RemapProgress | None = None,
        now: float | None = None,
    ) -> int:
        """In one transaction: write the re-mapped samples (over anything but a vendor's own
        tombstone) and the `restamped` ones (same values, newer provenance), mark the (user_id,
        source, sample_type, dedup_id) samples the mapping no longer produces as removed by it
        (never a vendor tombstone), report the changes but restamps to the outbox with origin
        remap and, with `run`, move the re-map run to its new position, so a run killed at any
        instant resumes exactly after the last page it wrote. Returns rows changed."""

    async def count_unarchived_samples(
        self, source: str, *, user_id: str | None = None, resources: Sequence[str] | None = None,
    ) -> int:
        """Live samples with no archived raw record behind them: not remappable."""

    async def count_samples_by_mapping(
        self, source: str, *, user_id: str | None = None
    ) -> dict[tuple[str, str | None], int]:
        """Live samples per (resource, mapping hash)."""

    async def prune_raw(self, *, older_than_s: float, now: float | None = None) -> int:
        """Delete archived versions that arrived before now - older_than_s; samples mapped from a
        record with no version left lose their raw reference (no longer remappable)."""

    async def open_remap_run(
        self, vendor: str, user_id: str | None, scope: Mapping[str, Any], *,
        now: float | None = None,
    ) -> RemapRun:
        """The unfinished run of exactly this scope (resume it), or a new one."""

    async def update_remap_run(
        self, run_id: str, *, position: str | None, counts: Mapping[str, int], state: str,
        now: float | None = None,
    ) -> None: ...

    async def list_erasures(self) -> list[Erasure]: ...


class ZoneStore(Protocol):
    """Each connection's time zone with its history: (in force since, zone, origin) rows."""

    async def record_zone(
        self, vendor: str, user_id: str, *, zone: str, origin: str, since: float | None = None,
        now: float | None = None,
    ) -> bool:
        """Add `zone` (an IANA name or +HH:MM) as in force from `since` (default now) unless the
        zone in force then is already it. True when the history changed."""

    async def zone_history(self, vendor: str, user_id: str) -> list[tuple[float, str, str]]:
        """(since as epoch seconds, zone, origin) rows, oldest first."""


class IdentityStore(Protocol):
    """Repairs of record identity: samples stored under an identity a spec has replaced."""

    async def tombstone_superseded(
        self, samples: Sequence[SampleRecord], *, now: float | None = None
    ) -> int:
        """Tombstone every live sample of the same user, source, type and resource at the same
        start as one of `samples` but under another dedup key (a partial summary's id, an old
        mapping's id). Returns how many."""

    async def tombstone_unproduced(
        self, source: str, user_id: str, resource: str, record_ids: Collection[str],
        kept: Collection[tuple[str, str]], *, now: float | None = None,
    ) -> int:
        """A re-read's repair: mark removed by the mapping (`deleted = 2`) every live sample of
        these vendor records of `resource` whose (sample type, dedup id) is not in `kept`, the
        samples the records' current versions map to. Samples of other records, resources or
        users are never touched. Returns how many."""


@dataclass(frozen=True, slots=True)
class IngestToken:
    """An on-device source's credential for one user (the token itself is never stored)."""

    token_id: str
    vendor: str
    user_id: str
    created_at: float
    expires_at: float
    revoked_at: float | None = None


class IngestTokenStore(Protocol):
    """Per-user ingest tokens, kept as keyed hashes; a token is found under any configured key."""

    async def add_ingest_token(
        self, vendor: str, user_id: str, token: str, *, expires_at: float, now: float | None = None
    ) -> IngestToken: ...

    async def ingest_token_owner(
        self, vendor: str, token: str, *, now: float | None = None
    ) -> IngestToken | None:
        """The token's record while it is neither revoked nor expired, else None."""

    async def list_ingest_tokens(self, vendor: str, user_id: str) -> list[IngestToken]: ...

    async def revoke_ingest_token(
        self, vendor: str, user_id: str, token_id: str, *, now: float | None = None
    ) -> bool: ...


class MergePriorityStore(Protocol):
    """A user's own source priorities for the merged view, per sample type (`*`: any type the
    user names no list for), and the time extent of the samples the merged view pages over."""

    async def merge_priorities(self, user_id: str) -> dict[str, list[str]]:
        """sample type (or `*`) -> source ids, highest priority first; {} when the user set none."""

    async def set_merge_priority(
        self, user_id: str, sample_type: str, sources: Sequence[str], *, now: float | None = None
    ) -> None: ...

    async def clear_merge_priority(self, user_id: str, sample_type: str | None = None) -> int:
        """Drop one type's list (None: all of the user's). Returns how many."""

    async def sample_time_range(
        self, user_id: str, sample_types: Sequence[str]
    ) -> tuple[datetime, datetime] | None:
        """The earliest and latest start of the user's samples of these types (tombstones
        included), or None when there are none."""


class Store(
    ConnectionStore, OAuthStateStore, JobStore, BudgetStore, SampleStore, SyncStore,
    AppStateStore, RawArchiveStore, OutboxStore, ZoneStore, IdentityStore,
    IngestTokenStore, MergePriorityStore, Housekeeping, Protocol,
):
    """The whole async storage port: what `open_store` returns, whichever database it opened."""
