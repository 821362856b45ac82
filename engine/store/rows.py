"""What both SQL adapters share about the schema's rows: column lists, decoding rows into port
records, sealing and opening the secrets they hold, and the values written for new rows.

Only dialect-free Python lives here; statements, placeholders and transactions stay with each
adapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.store.codec import dump_json, dump_payload, encode_sample_cursor, from_micros, load_json
from engine.store.crypto import TokenCipher
from engine.store.port import (
    CONNECTION_STATUSES,
    JOB_STATES,
    AppSubscription,
    AwaitedWindow,
    BudgetState,
    Connection,
    InboxEvent,
    Job,
    JobSpec,
    OAuthState,
    SamplePage,
    StoredSample,
    Sync,
)

CONNECTION_COLUMNS = (
    "vendor, user_id, vendor_user_id, status, scopes, access_token_enc, refresh_token_enc, "
    "token_expires_at, token_version, extra, last_webhook_at, last_pull_at, last_error, "
    "created_at, updated_at"
)
STATE_COLUMNS = (
    "state_id, vendor, user_id, pkce_verifier_enc, return_to, extra, expires_at, created_at"
)
JOB_COLUMNS = (
    "id, kind, payload, state, attempts, max_attempts, run_at, lease_owner, lease_expires_at, "
    "last_error, idempotency_key, vendor, user_id, created_at, updated_at"
)
SAMPLE_COLUMNS = (
    "id, user_id, source, sample_type, dedup_id, timestamp_us, end_us, deleted, "
    "vendor_updated_us, resource, vendor_record_id, payload, stored_at"
)
SYNC_COLUMNS = (
    "sync_id, vendor, user_id, windows_total, windows_done, records, errors, clipped_note, "
    "last_error, detail, created_at, updated_at"
)
BUDGET_COLUMNS = "budget_key, tat, emission_s, tau_s, blocked_until, updated_at"
APP_SUBSCRIPTION_COLUMNS = "vendor, subscription_id, expires_at, detail, updated_at"
AWAITED_COLUMNS = "id, sync_id, vendor, user_id, resource, start_us, end_us, requested_at"
INBOX_EVENT_COLUMNS = (
    "vendor, event_key, event_type, vendor_user_id, user_id, object_id, payload, job_id, "
    "received_at"
)

APP_USER = ""  # the "user" an app-level secret is bound to in its encryption context
LEASE_LOST = "lease expired: the worker holding the job stopped before finishing it"
MAX_PAGE = 5000
# A job that has not started yet: whatever it fetches will be the vendor's latest state.
WAITING_FIRST_RUN = "jobs.state = 'queued' AND jobs.attempts = 0"


def app_secret_field(name: str) -> str:
    return f"app_secret:{name}"


def check_status(status: str) -> None:
    if status not in CONNECTION_STATUSES:
        raise ValueError(f"unknown connection status {status!r}; one of {CONNECTION_STATUSES}")


def check_job_state(state: str | None) -> None:
    if state is not None and state not in JOB_STATES:
        raise ValueError(f"unknown job state {state!r}; one of {JOB_STATES}")


def check_job(job: JobSpec) -> None:
    if not job.kind:
        raise ValueError("job kind must not be empty")
    if job.max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")


def check_event(event: InboxEvent) -> None:
    if not event.vendor or not event.event_key:
        raise ValueError("inbox events need a vendor and an event key")


def equality_filters(
    pairs: Sequence[tuple[str, Any]], placeholder: str
) -> tuple[str, list[Any]]:
    """`WHERE a = ? AND b = ? ` (with the trailing space; empty without filters) for the pairs
    whose value is given, and their parameters."""
    clauses, params = [], []
    for column, value in pairs:
        if value is not None:
            clauses.append(f"{column} = {placeholder}")
            params.append(value)
    return (f"WHERE {' AND '.join(clauses)} " if clauses else ""), params


# ---------------------------------------------------------------------- values of new rows
def connection_values(
    vendor: str,
    user_id: str,
    vendor_user_id: str | None,
    scopes_json: str,
    access_enc: str | None,
    refresh_enc: str | None,
    token_expires_at: float | None,
    extra_json: str,
    at: float,
) -> tuple[Any, ...]:
    return (
        vendor, user_id, vendor_user_id, "active", scopes_json, access_enc, refresh_enc,
        token_expires_at, 1, extra_json, None, None, None, at, at,
    )  # fmt: skip


def job_values(job_id: str, job: JobSpec, at: float) -> tuple[Any, ...]:
    return (
        job_id, job.kind, dump_payload(job.payload), "queued", 0, job.max_attempts,
        at if job.run_at is None else job.run_at, None, None, None,
        job.idempotency_key or None, job.vendor, job.user_id, at, at,
    )  # fmt: skip


def inbox_event_values(
    event: InboxEvent, payload_json: str, received_at: float, job_id: str | None = None
) -> tuple[Any, ...]:
    return (
        event.vendor, event.event_key, event.event_type, event.vendor_user_id, event.user_id,
        event.object_id, payload_json, job_id, received_at,
    )  # fmt: skip


def sync_values(
    sync_id: str,
    vendor: str,
    user_id: str,
    windows_total: int,
    clipped_note: str | None,
    detail: Mapping[str, Any] | None,
    at: float,
) -> tuple[Any, ...]:
    return (
        sync_id, vendor, user_id, windows_total, 0, 0, 0, clipped_note, None,
        dump_json(dict(detail or {})), at, at,
    )  # fmt: skip


# ---------------------------------------------------------------------- decoding rows
def job_from_row(row: Sequence[Any]) -> Job:
    return Job(
        id=row[0],
        kind=row[1],
        payload=load_json(row[2]),
        state=row[3],
        attempts=row[4],
        max_attempts=row[5],
        run_at=row[6],
        lease_owner=row[7],
        lease_expires_at=row[8],
        last_error=row[9],
        idempotency_key=row[10],
        vendor=row[11],
        user_id=row[12],
        created_at=row[13],
        updated_at=row[14],
    )


def sample_from_row(row: Sequence[Any]) -> StoredSample:
    payload = load_json(row[11])
    deleted = bool(row[7])
    if isinstance(payload, dict):
        payload["deleted"] = deleted
    return StoredSample(
        user_id=row[1],
        source=row[2],
        sample_type=row[3],
        dedup_id=row[4],
        timestamp_utc=from_micros(row[5]),
        end_utc=None if row[6] is None else from_micros(row[6]),
        deleted=deleted,
        vendor_updated_at=None if row[8] is None else from_micros(row[8]),
        resource=row[9],
        vendor_record_id=row[10],
        payload=payload,
        stored_at=row[12],
    )


def sample_page(rows: Sequence[Sequence[Any]], limit: int) -> SamplePage:
    """The page of a query that asked for `limit + 1` rows: the extra row means there is more."""
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_sample_cursor(rows[-1][5], rows[-1][0])
    return SamplePage(samples=[sample_from_row(row) for row in rows], next_cursor=next_cursor)


def sync_from_row(row: Sequence[Any]) -> Sync:
    return Sync(
        sync_id=row[0],
        vendor=row[1],
        user_id=row[2],
        windows_total=row[3],
        windows_done=row[4],
        records=row[5],
        errors=row[6],
        clipped_note=row[7],
        last_error=row[8],
        detail=load_json(row[9]),
        created_at=row[10],
        updated_at=row[11],
    )


def app_subscription_from_row(row: Sequence[Any]) -> AppSubscription:
    return AppSubscription(
        vendor=row[0], subscription_id=row[1], expires_at=row[2], detail=load_json(row[3]),
        updated_at=row[4],
    )


def awaited_from_row(row: Sequence[Any]) -> AwaitedWindow:
    return AwaitedWindow(
        id=row[0], sync_id=row[1], vendor=row[2], user_id=row[3], resource=row[4],
        start=from_micros(row[5]), end=from_micros(row[6]), requested_at=row[7],
    )


def budget_from_row(row: Sequence[Any]) -> BudgetState:
    return BudgetState(
        key=row[0],
        tat=row[1],
        emission_s=row[2],
        tau_s=row[3],
        blocked_until=row[4],
        updated_at=row[5],
    )


# ---------------------------------------------------------------------- secrets in rows
class SecretRows:
    """Seals secrets before they are written and opens them in rows read back, each bound to
    the vendor, user and field it belongs to."""

    def __init__(self, cipher: TokenCipher) -> None:
        self._cipher = cipher

    def seal(self, value: str | None, vendor: str, user_id: str, field: str) -> str | None:
        if value is None:
            return None
        return self._cipher.encrypt(value, vendor=vendor, user_id=user_id, field=field)

    def open(self, value: str | None, vendor: str, user_id: str, field: str) -> str | None:
        if value is None:
            return None
        return self._cipher.decrypt(value, vendor=vendor, user_id=user_id, field=field)

    def seal_app_secret(self, vendor: str, name: str, value: str) -> str:
        return self._cipher.encrypt(
            value, vendor=vendor, user_id=APP_USER, field=app_secret_field(name)
        )

    def open_app_secrets(self, vendor: str, rows: Sequence[Sequence[Any]]) -> dict[str, str]:
        return {
            name: self._cipher.decrypt(
                sealed, vendor=vendor, user_id=APP_USER, field=app_secret_field(name)
            )
            for name, sealed in rows
        }

    def seal_verifier(self, state: OAuthState) -> str | None:
        return self.seal(
            state.pkce_verifier, state.vendor, state.user_id, f"pkce_verifier:{state.state_id}"
        )

    def state_values(self, state: OAuthState, created_at: float) -> tuple[Any, ...]:
        return (
            state.state_id, state.vendor, state.user_id, self.seal_verifier(state),
            state.return_to, dump_json(dict(state.extra)), state.expires_at, created_at,
        )  # fmt: skip

    def state_from_row(self, row: Sequence[Any]) -> OAuthState:
        return OAuthState(
            state_id=row[0],
            vendor=row[1],
            user_id=row[2],
            pkce_verifier=self.open(row[3], row[1], row[2], f"pkce_verifier:{row[0]}"),
            return_to=row[4],
            extra=load_json(row[5]),
            expires_at=row[6],
            created_at=row[7],
        )

    def connection_from_row(self, row: Sequence[Any]) -> Connection:
        vendor, user_id = row[0], row[1]
        return Connection(
            vendor=vendor,
            user_id=user_id,
            vendor_user_id=row[2],
            status=row[3],
            scopes=tuple(load_json(row[4])),
            access_token=self.open(row[5], vendor, user_id, "access_token"),
            refresh_token=self.open(row[6], vendor, user_id, "refresh_token"),
            token_expires_at=row[7],
            token_version=row[8],
            extra=load_json(row[9]),
            last_webhook_at=row[10],
            last_pull_at=row[11],
            last_error=row[12],
            created_at=row[13],
            updated_at=row[14],
        )

    def tokens(
        self, vendor: str, user_id: str, access_token: str | None, refresh_token: str | None
    ) -> tuple[str | None, str | None]:
        """The sealed access and refresh tokens of a connection."""
        return (
            self.seal(access_token, vendor, user_id, "access_token"),
            self.seal(refresh_token, vendor, user_id, "refresh_token"),
        )
