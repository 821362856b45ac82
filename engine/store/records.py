"""The records callers hand to the store and get back from it.

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

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

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

    def expires_in(self, now: float | None = None) -> float | None:
        """Seconds until the access token expires (negative once it has), None when the vendor
        gave no expiry."""
        if self.token_expires_at is None:
            return None
        return self.token_expires_at - (time.time() if now is None else now)

    def is_expired(self, now: float | None = None, *, leeway: float = 0.0) -> bool:
        """True when the access token has expired (or will within `leeway` seconds). A token
        with no known expiry is not expired: the vendor's 401 decides."""
        remaining = self.expires_in(now)
        return remaining is not None and remaining <= leeway


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
    priority: int = 0  # among due jobs, higher first: live work ahead of backfills
    fair_seq: int = 0  # then lower first: a backfill window's index, so users' syncs take turns


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
    priority: int = 0
    fair_seq: int = 0


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
        if now < self.blocked_until or self.emission_s <= 0:
            return 0
        slack = self.tau_s - max(0.0, self.tat - now)
        return max(0, int(slack // self.emission_s) + 1)


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lock: valid until `expires_at` unless released or extended."""

    name: str
    owner: str
    expires_at: float


def refresh_lock_name(vendor: str, user_id: str) -> str:
    return f"refresh\x1f{vendor}\x1f{user_id}"


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True, slots=True)
class SampleProvenance:
    """Where a sample came from, beyond what its payload says (resource, vendor record id):
    how it reached the engine, the spec and mapping that produced it and the archived raw record
    version it was mapped from (None when the raw record was not kept)."""

    channel: str | None = None  # webhook | poll | backfill | manual_sync | push | remap
    spec_version: int | None = None
    mapping_hash: str | None = None
    raw_key: str | None = None  # the archived record's identity
    raw_id: str | None = None  # the archived version


REMOVED_BY_MAPPING = 2  # `deleted` of a sample the current mapping no longer produces (remap)


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
    provenance: SampleProvenance | None = None

    @classmethod
    def from_sample(cls, sample: Mapping[str, Any], dedup_id: str,
                    provenance: SampleProvenance | None = None) -> SampleRecord:
        """Build from a normalized sample dict (`timestamp_utc`, `end_utc`, `provenance`, …)."""
        named = sample.get("provenance") or {}
        updated = named.get("vendor_updated_at")
        record_id = named.get("vendor_record_id")
        end = sample.get("end_utc")
        return cls(
            user_id=str(sample["user_id"]),
            source=str(sample["source"]),
            sample_type=str(sample["sample_type"]),
            dedup_id=dedup_id,
            timestamp_utc=parse_utc(sample["timestamp_utc"]),
            end_utc=parse_utc(end) if end else None,
            vendor_updated_at=parse_utc(updated) if updated else None,
            resource=named.get("resource"),
            vendor_record_id=None if record_id is None else str(record_id),
            deleted=bool(sample.get("deleted", False)),
            payload=sample,
            provenance=provenance,
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
    provenance: SampleProvenance | None = None
    removed_by_mapping: bool = False  # deleted because a re-map's mapping no longer produces it


@dataclass(frozen=True, slots=True)
class SamplePage:
    samples: list[StoredSample]
    next_cursor: str | None  # opaque; None when this is the last page


@dataclass(frozen=True, slots=True)
class UpsertResult:
    written: int  # inserted or replaced
    skipped: int  # not written because the stored vendor version is newer


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


# --------------------------------------------------------------------------- syncs and app state


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
    windows_cancelled: int = 0  # queued windows removed by a cancel
    cancelled_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.windows_done + self.windows_cancelled >= self.windows_total

    @property
    def windows_left(self) -> int:
        return max(self.windows_total - self.windows_done - self.windows_cancelled, 0)


def sync_job_key_prefix(sync_id: str) -> str:
    """The idempotency keys of a sync's window jobs start with this (a cancel finds them by it)."""
    return f"sync\x1f{sync_id}\x1f"


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


@dataclass(frozen=True, slots=True)
class AppSubscription:
    """A webhook subscription the app (not a user) holds at a vendor."""

    vendor: str
    subscription_id: str
    expires_at: float | None
    detail: Mapping[str, Any]
    updated_at: float


@dataclass(frozen=True, slots=True)
class IngestToken:
    """An on-device source's credential for one user (the token itself is never stored)."""

    token_id: str
    vendor: str
    user_id: str
    created_at: float
    expires_at: float
    revoked_at: float | None = None


# --------------------------------------------------------------------------- raw archive


@dataclass(frozen=True, slots=True)
class RawVersion:
    """One version of a vendor record to archive: `raw_key` names the record (vendor, user,
    resource, vendor identity), `id` the version (the record and its content hash)."""

    id: str
    raw_key: str
    vendor: str
    user_id: str
    resource: str
    record_key: str
    content_hash: str
    channel: str
    trust: str
    codec: str
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class RawHead:
    """The latest archived version of a record, as a re-map reads it."""

    id: str
    raw_key: str
    user_id: str
    resource: str
    record_key: str
    codec: str
    body: bytes = field(repr=False)
    channel: str
    arrived_at: float


@dataclass(frozen=True, slots=True)
class RemapRun:
    run_id: str
    vendor: str
    user_id: str | None
    scope: Mapping[str, Any]  # what the run covers: user, since, resources, spec hash
    position: str | None  # the last raw record key done (resume after it)
    counts: Mapping[str, int]
    state: str  # running | done
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class RemapProgress:
    """Where a re-map run stands after a page: written in the page's own transaction."""

    run_id: str
    position: str
    counts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Erasure:
    """What one deletion removed: the user only as a keyed hash, counts per table, no data."""

    id: str
    subject_hash: str
    reason: str
    vendor: str | None
    counts: Mapping[str, int]
    erased_at: float
