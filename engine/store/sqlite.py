"""The SQLite adapter of the storage port (the embedded, zero-configuration default).

Statements are portable SQL (upserts with ON CONFLICT, RETURNING, no SQLite-only functions); only
the transaction plumbing in `sqlite_db` is SQLite-specific.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any

from engine.store import gcra
from engine.store.codec import decode_sample_cursor, dump_json, dump_payload, new_id, to_micros
from engine.store.crypto import TokenCipher
from engine.store.errors import ConnectionConflict
from engine.store.port import (
    JOB_STATES,
    AppSubscription,
    AwaitedWindow,
    BudgetGrant,
    BudgetRequest,
    BudgetState,
    Connection,
    EnqueueResult,
    InboxEvent,
    Job,
    JobSpec,
    OAuthState,
    RecordResult,
    SamplePage,
    SampleRecord,
    Store,
    Sync,
    UpsertResult,
)
from engine.store.rows import (
    APP_SUBSCRIPTION_COLUMNS,
    AWAITED_COLUMNS,
    BUDGET_COLUMNS,
    CONNECTION_COLUMNS,
    INBOX_EVENT_COLUMNS,
    JOB_COLUMNS,
    LEASE_LOST,
    MAX_PAGE,
    SAMPLE_COLUMNS,
    STATE_COLUMNS,
    SYNC_COLUMNS,
    WAITING_FIRST_RUN,
    SecretRows,
    app_subscription_from_row,
    awaited_from_row,
    budget_from_row,
    check_event,
    check_job,
    check_job_state,
    check_status,
    connection_values,
    equality_filters,
    inbox_event_values,
    job_from_row,
    job_values,
    sample_page,
    sync_from_row,
    sync_values,
)
from engine.store.sample_rows import sample_rows
from engine.store.sqlite_db import SqliteDatabase

Clock = Callable[[], float]


def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


# Rows per multi-row statement. One statement instead of `executemany` is one hand-back of the
# interpreter lock per chunk instead of one per row: the writer thread otherwise waits for a busy
# event loop to give the lock back after every row.
_ROWS_PER_STATEMENT = 256

_SAMPLE_UPSERT = (
    f"INSERT INTO samples ({SAMPLE_COLUMNS}) VALUES {{values}} "
    "ON CONFLICT (user_id, source, sample_type, dedup_id) DO UPDATE SET "
    "timestamp_us = excluded.timestamp_us, end_us = excluded.end_us, "
    "deleted = excluded.deleted, "
    "vendor_updated_us = COALESCE(excluded.vendor_updated_us, samples.vendor_updated_us), "
    "resource = excluded.resource, vendor_record_id = excluded.vendor_record_id, "
    "payload = excluded.payload, stored_at = excluded.stored_at "
    # Latest vendor version wins; a version-less write never resurrects a tombstone.
    "WHERE samples.vendor_updated_us IS NULL "
    "OR excluded.vendor_updated_us >= samples.vendor_updated_us "
    "OR (excluded.vendor_updated_us IS NULL AND samples.deleted = 0)"
)


@functools.lru_cache(maxsize=1024)
def _value_rows(width: int, count: int) -> str:
    return ", ".join([f"({_placeholders(width)})"] * count)


def _statements(sql: str, width: int, rows: list[tuple[Any, ...]]) -> Iterator[tuple[str, list[Any]]]:
    """`sql` (with a `{values}` slot) and its parameters for each chunk of `rows`."""
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start:start + _ROWS_PER_STATEMENT]
        yield sql.format(values=_value_rows(width, len(chunk))), list(chain.from_iterable(chunk))


def _insert_returning(conn: sqlite3.Connection, sql: str, width: int, rows: list[tuple[Any, ...]]) -> list[Any]:
    return [row for statement, params in _statements(sql, width, rows)
            for row in conn.execute(statement, params).fetchall()]


@dataclass(frozen=True, slots=True, eq=False)
class _EventRow:
    event: InboxEvent
    job: JobSpec | None
    job_id: str | None  # the id the job gets if it is new
    at: float
    values: tuple[Any, ...]  # the inbox row
    job_row: tuple[Any, ...] | None  # the jobs row, if the event has a job


@dataclass(frozen=True, slots=True, eq=False)
class _Delivery:
    rows: list[_EventRow]
    webhook_from: tuple[tuple[str, str], ...]
    at: float


class SqliteStore(Store):
    def __init__(self, db: SqliteDatabase, cipher: TokenCipher, clock: Clock = time.time):
        super().__init__()
        self._db = db
        self._secrets = SecretRows(cipher)
        self._clock = clock

    @property
    def path(self) -> Path:
        return self._db.path

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    # ------------------------------------------------------------------ lifecycle
    async def ping(self) -> None:
        await self._db.read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self._db.close()

    # ------------------------------------------------------------------ connections
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
        at = self._now(now)
        values = connection_values(
            vendor, user_id, vendor_user_id, dump_json(list(scopes)),
            *self._secrets.tokens(vendor, user_id, access_token, refresh_token),
            token_expires_at, dump_json(dict(extra or {})), at,
        )  # fmt: skip

        def op(conn: sqlite3.Connection) -> Sequence[Any]:
            if vendor_user_id is not None:
                holder = conn.execute(
                    "SELECT user_id, status FROM connections WHERE vendor = ? AND vendor_user_id = ?",
                    (vendor, vendor_user_id),
                ).fetchone()
                if holder is not None and holder[0] != user_id:
                    if holder[1] == "active":
                        raise ConnectionConflict(vendor, vendor_user_id, holder[0])
                    conn.execute(
                        "UPDATE connections SET vendor_user_id = NULL, updated_at = ? "
                        "WHERE vendor = ? AND user_id = ?",
                        (at, vendor, holder[0]),
                    )
            conn.execute(
                f"INSERT INTO connections ({CONNECTION_COLUMNS}) "
                f"VALUES ({_placeholders(15)}) "
                "ON CONFLICT (vendor, user_id) DO UPDATE SET "
                "vendor_user_id = excluded.vendor_user_id, status = excluded.status, "
                "scopes = excluded.scopes, access_token_enc = excluded.access_token_enc, "
                "refresh_token_enc = COALESCE(excluded.refresh_token_enc, "
                "connections.refresh_token_enc), "
                "token_expires_at = excluded.token_expires_at, "
                "token_version = connections.token_version + 1, extra = excluded.extra, "
                "last_error = NULL, updated_at = excluded.updated_at",
                values,
            )
            return conn.execute(
                f"SELECT {CONNECTION_COLUMNS} FROM connections WHERE vendor = ? AND user_id = ?",
                (vendor, user_id),
            ).fetchone()

        return self._secrets.connection_from_row(await self._db.write(op))

    async def get_connection(self, vendor: str, user_id: str) -> Connection | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {CONNECTION_COLUMNS} FROM connections WHERE vendor = ? AND user_id = ?",
                (vendor, user_id),
            ).fetchone()
        )
        return None if row is None else self._secrets.connection_from_row(row)

    async def get_connection_by_vendor_user(
        self, vendor: str, vendor_user_id: str
    ) -> Connection | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {CONNECTION_COLUMNS} FROM connections "
                "WHERE vendor = ? AND vendor_user_id = ?",
                (vendor, vendor_user_id),
            ).fetchone()
        )
        return None if row is None else self._secrets.connection_from_row(row)

    async def get_user_id_by_vendor_user(self, vendor: str, vendor_user_id: str) -> str | None:
        row = await self._db.read_point(
            lambda conn: conn.execute(
                "SELECT user_id FROM connections WHERE vendor = ? AND vendor_user_id = ?",
                (vendor, vendor_user_id),
            ).fetchone()
        )
        return None if row is None else row[0]

    async def list_connections(
        self,
        *,
        user_id: str | None = None,
        vendor: str | None = None,
        status: str | None = None,
    ) -> list[Connection]:
        where, params = equality_filters(
            (("user_id", user_id), ("vendor", vendor), ("status", status)), "?"
        )
        rows = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {CONNECTION_COLUMNS} FROM connections {where}ORDER BY user_id, vendor",
                params,
            ).fetchall()
        )
        return [self._secrets.connection_from_row(row) for row in rows]

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
        at = self._now(now)
        access, refresh = self._secrets.tokens(vendor, user_id, access_token, refresh_token)
        scopes_json = None if scopes is None else dump_json(list(scopes))

        def op(conn: sqlite3.Connection) -> Sequence[Any] | None:
            return conn.execute(
                "UPDATE connections SET access_token_enc = ?, "
                "refresh_token_enc = COALESCE(?, refresh_token_enc), token_expires_at = ?, "
                "scopes = COALESCE(?, scopes), token_version = token_version + 1, updated_at = ? "
                "WHERE vendor = ? AND user_id = ? AND token_version = ? "
                f"RETURNING {CONNECTION_COLUMNS}",
                (
                    access,
                    refresh,
                    token_expires_at,
                    scopes_json,
                    at,
                    vendor,
                    user_id,
                    expected_version,
                ),
            ).fetchone()

        row = await self._db.write(op)
        return None if row is None else self._secrets.connection_from_row(row)

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
        check_status(status)
        at = self._now(now)
        sql = (
            "UPDATE connections SET status = ?, last_error = ?, updated_at = ? "
            "WHERE vendor = ? AND user_id = ?"
        )
        params: list[Any] = [status, last_error, at, vendor, user_id]
        if expected_version is not None:
            sql += " AND token_version = ?"
            params.append(expected_version)
        return await self._db.write(lambda conn: conn.execute(sql, params).rowcount == 1)

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
        at = self._now(now)
        return await self._db.write(
            lambda conn: (
                conn.execute(
                    "UPDATE connections SET last_webhook_at = COALESCE(?, last_webhook_at), "
                    "last_pull_at = COALESCE(?, last_pull_at), "
                    "last_error = CASE WHEN ? = 1 THEN NULL ELSE COALESCE(?, last_error) END, "
                    "updated_at = ? WHERE vendor = ? AND user_id = ?",
                    (
                        last_webhook_at,
                        last_pull_at,
                        int(clear_error),
                        last_error,
                        at,
                        vendor,
                        user_id,
                    ),
                ).rowcount
                == 1
            )
        )

    async def purge_tokens(
        self, vendor: str, user_id: str, *, status: str = "revoked", now: float | None = None
    ) -> bool:
        check_status(status)
        at = self._now(now)
        return await self._db.write(
            lambda conn: (
                conn.execute(
                    "UPDATE connections SET access_token_enc = NULL, refresh_token_enc = NULL, "
                    "token_expires_at = NULL, token_version = token_version + 1, status = ?, "
                    "updated_at = ? WHERE vendor = ? AND user_id = ?",
                    (status, at, vendor, user_id),
                ).rowcount
                == 1
            )
        )

    async def delete_connection(self, vendor: str, user_id: str) -> bool:
        return await self._db.write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM connections WHERE vendor = ? AND user_id = ?", (vendor, user_id)
                ).rowcount
                == 1
            )
        )

    # ------------------------------------------------------------------ locks
    async def _lock_try_acquire(self, name: str, owner: str, ttl_s: float) -> float | None:
        at = self._clock()
        expires = at + ttl_s

        def op(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                "INSERT INTO locks (name, owner, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "expires_at = excluded.expires_at "
                "WHERE locks.expires_at <= ? OR locks.owner = excluded.owner "
                "RETURNING expires_at",
                (name, owner, expires, at),
            ).fetchall()
            return row[0][0] if row else None

        return await self._db.write(op)

    async def _lock_extend(self, name: str, owner: str, ttl_s: float) -> float | None:
        expires = self._clock() + ttl_s

        def op(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                "UPDATE locks SET expires_at = ? WHERE name = ? AND owner = ? RETURNING expires_at",
                (expires, name, owner),
            ).fetchall()
            return row[0][0] if row else None

        return await self._db.write(op)

    async def _lock_release(self, name: str, owner: str) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner)
            )
        )

    # ------------------------------------------------------------------ oauth states
    async def put_oauth_state(self, state: OAuthState) -> None:
        if not state.state_id:
            raise ValueError("state_id must not be empty")
        values = self._secrets.state_values(state, state.created_at or self._clock())
        await self._db.write(
            lambda conn: conn.execute(
                f"INSERT INTO oauth_states ({STATE_COLUMNS}) VALUES ({_placeholders(8)})",
                values,
            )
        )

    async def consume_oauth_state(
        self, state_id: str, *, now: float | None = None
    ) -> OAuthState | None:
        at = self._now(now)
        rows = await self._db.write(
            lambda conn: conn.execute(
                f"DELETE FROM oauth_states WHERE state_id = ? RETURNING {STATE_COLUMNS}",
                (state_id,),
            ).fetchall()
        )
        if not rows or rows[0][6] <= at:
            return None
        return self._secrets.state_from_row(rows[0])

    # ------------------------------------------------------------------ inbox and jobs
    @staticmethod
    def _insert_job(
        conn: sqlite3.Connection, job: JobSpec, at: float, job_id: str | None = None
    ) -> EnqueueResult:
        check_job(job)
        job_id = job_id or new_id(at)
        inserted = conn.execute(
            f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({_placeholders(15)}) "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            job_values(job_id, job, at),
        ).rowcount
        if inserted == 1:
            return EnqueueResult(job_id, True)
        existing = conn.execute(
            "SELECT id FROM jobs WHERE idempotency_key = ?", (job.idempotency_key or None,)
        ).fetchone()
        return EnqueueResult(existing[0], False)

    @staticmethod
    def _retire_started_generation(
        conn: sqlite3.Connection, event: InboxEvent, job: JobSpec, at: float
    ) -> None:
        """Move a repeatable event's stored row, and a job holding its idempotency key, aside
        unless that job is still waiting for its first run: the new delivery is then recorded
        as a new event with a new job."""
        conn.execute(
            "UPDATE inbox_events SET event_key = event_key || '@' || COALESCE(job_id, ?) "
            "WHERE vendor = ? AND event_key = ? AND NOT EXISTS (SELECT 1 FROM jobs "
            f"WHERE jobs.id = inbox_events.job_id AND {WAITING_FIRST_RUN})",
            (new_id(at), event.vendor, event.event_key),
        )
        if job.idempotency_key:
            conn.execute(
                "UPDATE jobs SET idempotency_key = idempotency_key || '@' || id "
                f"WHERE idempotency_key = ? AND NOT ({WAITING_FIRST_RUN})",
                (job.idempotency_key,),
            )

    async def record_events(
        self,
        items: Sequence[tuple[InboxEvent, JobSpec | None]],
        *,
        webhook_from: Sequence[tuple[str, str]] = (),
        now: float | None = None,
    ) -> list[RecordResult]:
        at = self._now(now)
        rows = []
        for event, job in items:
            check_event(event)
            job_id = job_row = None
            if job is not None:
                check_job(job)
                job_id = new_id(at)
                job_row = job_values(job_id, job, at)
            inbox_row = inbox_event_values(event, dump_payload(event.payload), event.received_at or at, job_id)
            rows.append(_EventRow(event, job, job_id, at, inbox_row, job_row))
        return await self._db.write_grouped(self._record_deliveries, _Delivery(rows, tuple(webhook_from), at))

    def _record_deliveries(self, conn: sqlite3.Connection, deliveries: list[_Delivery]) -> list[list[RecordResult]]:
        """Every delivery that queued up, in order: the new events of all of them in one
        statement, their jobs in another."""
        outcomes: dict[int, RecordResult] = {}  # by id of the row
        fresh: list[_EventRow] = []
        seen: set[tuple[str, str]] = set()
        for delivery in deliveries:
            for row in delivery.rows:
                key = (row.event.vendor, row.event.event_key)
                if row.event.repeatable and row.job is not None:
                    outcomes[id(row)] = self._record_repeatable(conn, row)
                elif key in seen:  # the same event twice in the group: the first one counts
                    outcomes[id(row)] = RecordResult(created=False, job_id=None)
                else:
                    seen.add(key)
                    fresh.append(row)
        created = set(_insert_returning(
            conn, f"INSERT INTO inbox_events ({INBOX_EVENT_COLUMNS}) VALUES {{values}} "
                  "ON CONFLICT (vendor, event_key) DO NOTHING RETURNING vendor, event_key",
            9, [row.values for row in fresh]))
        job_rows = [row.job_row for row in fresh
                    if row.job_row is not None and (row.event.vendor, row.event.event_key) in created]
        inserted = {job_id for (job_id,) in _insert_returning(
            conn, f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES {{values}} "
                  "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id", 15, job_rows)}
        for row in fresh:
            if (row.event.vendor, row.event.event_key) not in created:  # already in the inbox
                outcomes[id(row)] = RecordResult(created=False, job_id=None)
                continue
            job_id = row.job_id
            if job_id is not None and job_id not in inserted:
                job_id = self._adopt_existing_job(conn, row)
            outcomes[id(row)] = RecordResult(created=True, job_id=job_id)
        stamped: dict[tuple[str, str], float] = {}
        for delivery in deliveries:
            for pair in delivery.webhook_from:
                stamped[pair] = max(stamped.get(pair, delivery.at), delivery.at)
        for (vendor, user_id), at in sorted(stamped.items()):
            conn.execute(
                "UPDATE connections SET last_webhook_at = ?, updated_at = ? WHERE vendor = ? AND user_id = ?",
                (at, at, vendor, user_id),
            )
        return [[outcomes[id(row)] for row in delivery.rows] for delivery in deliveries]

    def _record_repeatable(self, conn: sqlite3.Connection, row: _EventRow) -> RecordResult:
        """An event without a vendor id, whose repeat may be a new change (see the port)."""
        assert row.job is not None and row.job_id is not None
        self._retire_started_generation(conn, row.event, row.job, row.at)
        if conn.execute(
            f"INSERT INTO inbox_events ({INBOX_EVENT_COLUMNS}) "
            f"VALUES ({_placeholders(9)}) ON CONFLICT (vendor, event_key) DO NOTHING",
            row.values,
        ).rowcount != 1:
            return RecordResult(created=False, job_id=None)
        job_id = self._insert_job(conn, row.job, row.at, row.job_id).job_id
        if job_id != row.job_id:
            job_id = self._adopt_existing_job(conn, row)
        return RecordResult(created=True, job_id=job_id)

    @staticmethod
    def _adopt_existing_job(conn: sqlite3.Connection, row: _EventRow) -> str:
        """A job under the new event's idempotency key exists already: the event points to it."""
        assert row.job is not None
        (job_id,) = conn.execute(
            "SELECT id FROM jobs WHERE idempotency_key = ?", (row.job.idempotency_key or None,)
        ).fetchone()
        conn.execute(
            "UPDATE inbox_events SET job_id = ? WHERE vendor = ? AND event_key = ?",
            (job_id, row.event.vendor, row.event.event_key),
        )
        return job_id

    async def enqueue(self, job: JobSpec, *, now: float | None = None) -> EnqueueResult:
        return (await self.enqueue_many([job], now=now))[0]

    async def enqueue_many(
        self, jobs: Sequence[JobSpec], *, now: float | None = None
    ) -> list[EnqueueResult]:
        at = self._now(now)
        return await self._db.write(lambda conn: [self._insert_job(conn, j, at) for j in jobs])

    async def claim(
        self,
        worker_id: str,
        *,
        lease_s: float = 30.0,
        kinds: Sequence[str] | None = None,
        now: float | None = None,
    ) -> Job | None:
        at = self._now(now)
        kind_filter, kind_params = "", []
        if kinds is not None:
            if not kinds:
                return None
            kind_filter = f" AND kind IN ({_placeholders(len(kinds))})"
            kind_params = list(kinds)

        def op(conn: sqlite3.Connection) -> Job | None:
            conn.execute(
                "UPDATE jobs SET state = 'dead', lease_owner = NULL, lease_expires_at = NULL, "
                "last_error = ?, updated_at = ? "
                "WHERE state = 'running' AND lease_expires_at <= ? AND attempts >= max_attempts",
                (LEASE_LOST, at, at),
            )
            candidate = (
                conn.execute(
                    "SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at <= ?"
                    f"{kind_filter} ORDER BY lease_expires_at LIMIT 1",
                    [at, *kind_params],
                ).fetchone()
                or conn.execute(
                    f"SELECT id FROM jobs WHERE state = 'queued' AND run_at <= ?{kind_filter} "
                    "ORDER BY run_at, id LIMIT 1",
                    [at, *kind_params],
                ).fetchone()
            )
            if candidate is None:
                return None
            row = conn.execute(
                "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, "
                f"attempts = attempts + 1, updated_at = ? WHERE id = ? RETURNING {JOB_COLUMNS}",
                (worker_id, at + lease_s, at, candidate[0]),
            ).fetchall()
            return job_from_row(row[0])

        return await self._db.write(op)

    async def next_due_at(self, *, kinds: Sequence[str] | None = None) -> float | None:
        kind_filter, kind_params = "", []
        if kinds is not None:
            if not kinds:
                return None
            kind_filter = f" AND kind IN ({_placeholders(len(kinds))})"
            kind_params = list(kinds)

        def op(conn: sqlite3.Connection) -> float | None:
            queued = conn.execute(
                f"SELECT MIN(run_at) FROM jobs WHERE state = 'queued'{kind_filter}", kind_params
            ).fetchone()[0]
            leased = conn.execute(
                f"SELECT MIN(lease_expires_at) FROM jobs WHERE state = 'running'{kind_filter}",
                kind_params,
            ).fetchone()[0]
            times = [t for t in (queued, leased) if t is not None]
            return min(times) if times else None

        return await self._db.read(op)

    async def heartbeat(
        self, job_id: str, worker_id: str, *, lease_s: float = 30.0, now: float | None = None
    ) -> bool:
        at = self._now(now)
        return await self._db.write(
            lambda conn: (
                conn.execute(
                    "UPDATE jobs SET lease_expires_at = ?, updated_at = ? "
                    "WHERE id = ? AND lease_owner = ? AND state = 'running'",
                    (at + lease_s, at, job_id, worker_id),
                ).rowcount
                == 1
            )
        )

    async def ack(self, job_id: str, worker_id: str, *, now: float | None = None) -> bool:
        at = self._now(now)
        return await self._db.write(
            lambda conn: (
                conn.execute(
                    "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, "
                    "updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'",
                    (at, job_id, worker_id),
                ).rowcount
                == 1
            )
        )

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
        at = self._now(now)

        def op(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT attempts, max_attempts FROM jobs "
                "WHERE id = ? AND lease_owner = ? AND state = 'running'",
                (job_id, worker_id),
            ).fetchone()
            if row is None:
                return None
            attempts, max_attempts = row
            if permanent:
                state = "failed"
            elif attempts >= max_attempts:
                state = "dead"
            else:
                state = "queued"
            conn.execute(
                "UPDATE jobs SET state = ?, lease_owner = NULL, lease_expires_at = NULL, "
                "last_error = ?, run_at = ?, updated_at = ? WHERE id = ?",
                (state, error, at if retry_at is None else retry_at, at, job_id),
            )
            return state

        return await self._db.write(op)

    async def release(
        self, job_id: str, worker_id: str, *, run_at: float | None = None, now: float | None = None
    ) -> bool:
        at = self._now(now)
        return await self._db.write(
            lambda conn: (
                conn.execute(
                    "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, "
                    "attempts = MAX(attempts - 1, 0), run_at = ?, updated_at = ? "
                    "WHERE id = ? AND lease_owner = ? AND state = 'running'",
                    (at if run_at is None else run_at, at, job_id, worker_id),
                ).rowcount
                == 1
            )
        )

    async def get_job(self, job_id: str) -> Job | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        )
        return None if row is None else job_from_row(row)

    async def list_jobs(
        self,
        *,
        state: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        after_id: str | None = None,
    ) -> list[Job]:
        check_job_state(state)
        clauses, params = [], []
        for column, op, value in (
            ("state", "=", state),
            ("kind", "=", kind),
            ("id", ">", after_id),
        ):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        params.append(max(1, min(limit, MAX_PAGE)))
        rows = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs {where}ORDER BY id LIMIT ?", params
            ).fetchall()
        )
        return [job_from_row(row) for row in rows]

    async def retry_job(self, job_id: str, *, now: float | None = None) -> bool:
        at = self._now(now)
        return await self._db.write(
            lambda conn: (
                conn.execute(
                    "UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?, updated_at = ? "
                    "WHERE id = ? AND state IN ('failed', 'dead')",
                    (at, at, job_id),
                ).rowcount
                == 1
            )
        )

    async def count_jobs(self) -> dict[str, int]:
        rows = await self._db.read(
            lambda conn: conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        )
        counts = dict.fromkeys(JOB_STATES, 0)
        counts.update({state: count for state, count in rows})
        return counts

    # ------------------------------------------------------------------ cursors
    async def get_cursor(self, vendor: str, user_id: str, resource: str) -> str | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT value FROM cursors WHERE vendor = ? AND user_id = ? AND resource = ?",
                (vendor, user_id, resource),
            ).fetchone()
        )
        return None if row is None else row[0]

    async def set_cursor(
        self, vendor: str, user_id: str, resource: str, value: str, *, now: float | None = None
    ) -> None:
        at = self._now(now)
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO cursors (vendor, user_id, resource, value, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (vendor, user_id, resource) DO UPDATE SET "
                "value = excluded.value, updated_at = excluded.updated_at",
                (vendor, user_id, resource, value, at),
            )
        )

    # ------------------------------------------------------------------ rate budgets
    @staticmethod
    def _read_budget(conn: sqlite3.Connection, key: str) -> gcra.BudgetRow | None:
        row = conn.execute(
            "SELECT tat, emission_s, tau_s, blocked_until FROM budgets WHERE budget_key = ?",
            (key,),
        ).fetchone()
        return None if row is None else gcra.BudgetRow(*row)

    @staticmethod
    def _write_budget(conn: sqlite3.Connection, key: str, row: gcra.BudgetRow, at: float) -> None:
        conn.execute(
            f"INSERT INTO budgets ({BUDGET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (budget_key) DO UPDATE SET tat = excluded.tat, "
            "emission_s = excluded.emission_s, tau_s = excluded.tau_s, "
            "blocked_until = excluded.blocked_until, updated_at = excluded.updated_at",
            (key, row.tat, row.emission_s, row.tau_s, row.blocked_until, at),
        )

    async def acquire_budget(
        self,
        requests: Sequence[BudgetRequest],
        *,
        max_wait_s: float = float("inf"),
        now: float | None = None,
    ) -> BudgetGrant:
        for request in requests:
            gcra.validate(request)
        if not requests:
            return BudgetGrant(granted=True, wait_s=0.0)

        def op(conn: sqlite3.Connection) -> BudgetGrant:
            at = self._now(now)  # read inside the transaction: grants are ordered by time
            pending: dict[str, gcra.BudgetRow | None] = {}
            wait = 0.0
            for request in requests:
                stored = (
                    pending[request.key]
                    if request.key in pending
                    else self._read_budget(conn, request.key)
                )
                reservation = gcra.reserve(request, stored, at)
                wait = max(wait, reservation.wait_s)
                pending[request.key] = reservation.row
            if wait > max_wait_s:
                return BudgetGrant(granted=False, wait_s=wait)
            for key, row in pending.items():
                assert row is not None
                self._write_budget(conn, key, row, at)
            return BudgetGrant(granted=True, wait_s=wait)

        return await self._db.write(op)

    async def penalize_budget(self, key: str, until: float, *, now: float | None = None) -> None:
        at = self._now(now)

        def op(conn: sqlite3.Connection) -> None:
            self._write_budget(conn, key, gcra.penalize(self._read_budget(conn, key), until), at)

        await self._db.write(op)

    async def get_budget(self, key: str) -> BudgetState | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {BUDGET_COLUMNS} FROM budgets WHERE budget_key = ?", (key,)
            ).fetchone()
        )
        return None if row is None else budget_from_row(row)

    async def list_budgets(self, prefix: str = "") -> list[BudgetState]:
        rows = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {BUDGET_COLUMNS} FROM budgets ORDER BY budget_key"
            ).fetchall()
        )
        return [budget_from_row(row) for row in rows if row[0].startswith(prefix)]

    # ------------------------------------------------------------------ samples
    async def upsert_samples(
        self, samples: Sequence[SampleRecord], *, now: float | None = None
    ) -> UpsertResult:
        at = self._now(now)
        rows = sample_rows(samples, at)
        if not rows:
            return UpsertResult(written=0, skipped=0)

        def op(conn: sqlite3.Connection) -> int:
            return sum(conn.execute(statement, params).rowcount
                       for statement, params in _statements(_SAMPLE_UPSERT, 13, rows))

        written = await self._db.write(op)
        return UpsertResult(written=written, skipped=len(rows) - written)

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
        at = self._now(now)
        version = to_micros(deleted_at) if deleted_at is not None else int(at * 1_000_000)
        sql = (
            "UPDATE samples SET deleted = 1, stored_at = ?, vendor_updated_us = CASE "
            "WHEN vendor_updated_us IS NULL OR vendor_updated_us < ? THEN ? "
            "ELSE vendor_updated_us END "
            "WHERE user_id = ? AND source = ? AND vendor_record_id = ? "
            "AND (vendor_updated_us IS NULL OR vendor_updated_us <= ?)"
        )
        params: list[Any] = [at, version, version, user_id, source, vendor_record_id, version]
        if resource is not None:
            sql += " AND resource = ?"
            params.append(resource)
        return await self._db.write(lambda conn: conn.execute(sql, params).rowcount)

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
        at = self._now(now)
        sql = (
            "UPDATE samples SET deleted = 1, stored_at = ? "
            "WHERE user_id = ? AND source = ? AND resource = ? AND deleted = 0 "
            "AND timestamp_us >= ? AND timestamp_us < ?"
        )
        params: list[Any] = [at, user_id, source, resource, to_micros(start), to_micros(end)]
        if stored_before is not None:
            sql += " AND stored_at < ?"
            params.append(stored_before)
        return await self._db.write(lambda conn: conn.execute(sql, params).rowcount)

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
        if limit < 1:
            raise ValueError("limit must be at least 1")
        limit = min(limit, MAX_PAGE)
        clauses, params = ["user_id = ?"], [user_id]
        if sample_types:
            clauses.append(f"sample_type IN ({_placeholders(len(sample_types))})")
            params.extend(sample_types)
        if source is not None:
            clauses.append("source = ?")
            params.append(source)
        if since is not None:
            clauses.append("timestamp_us >= ?")
            params.append(to_micros(since))
        if until is not None:
            clauses.append("timestamp_us < ?")
            params.append(to_micros(until))
        if not include_deleted:
            clauses.append("deleted = 0")
        if cursor is not None:
            after_us, after_id = decode_sample_cursor(cursor)
            clauses.append("(timestamp_us > ? OR (timestamp_us = ? AND id > ?))")
            params.extend([after_us, after_us, after_id])
        params.append(limit + 1)
        sql = (
            f"SELECT {SAMPLE_COLUMNS} FROM samples WHERE {' AND '.join(clauses)} "
            "ORDER BY timestamp_us, id LIMIT ?"
        )
        rows = await self._db.read(lambda conn: conn.execute(sql, params).fetchall())
        return sample_page(rows, limit)

    async def delete_user_data(self, user_id: str) -> dict[str, int]:
        def op(conn: sqlite3.Connection) -> dict[str, int]:
            linked = conn.execute(
                "SELECT vendor, vendor_user_id FROM connections "
                "WHERE user_id = ? AND vendor_user_id IS NOT NULL",
                (user_id,),
            ).fetchall()
            events = conn.execute("DELETE FROM inbox_events WHERE user_id = ?", (user_id,)).rowcount
            for vendor, vendor_user_id in linked:
                events += conn.execute(
                    "DELETE FROM inbox_events WHERE vendor = ? AND vendor_user_id = ?",
                    (vendor, vendor_user_id),
                ).rowcount
            counts = {"inbox_events": events}
            for table in ("connections", "oauth_states", "cursors", "samples", "jobs", "syncs",
                          "awaited_windows"):
                counts[table] = conn.execute(
                    f"DELETE FROM {table} WHERE user_id = ?", (user_id,)
                ).rowcount
            return counts

        return await self._db.write(op)

    # ------------------------------------------------------------------ syncs
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
    ) -> Sync:
        at = self._now(now)
        row = await self._db.write(
            lambda conn: conn.execute(
                f"INSERT INTO syncs ({SYNC_COLUMNS}) VALUES ({_placeholders(12)}) "
                f"RETURNING {SYNC_COLUMNS}",
                sync_values(sync_id, vendor, user_id, windows_total, clipped_note, detail, at),
            ).fetchall()[0]
        )
        return sync_from_row(row)

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
        at = self._now(now)
        rows = await self._db.write(
            lambda conn: conn.execute(
                "UPDATE syncs SET windows_total = windows_total + ?, "
                "windows_done = windows_done + ?, records = records + ?, errors = errors + ?, "
                "last_error = COALESCE(?, last_error), updated_at = ? WHERE sync_id = ? "
                f"RETURNING {SYNC_COLUMNS}",
                (
                    add_windows_total,
                    add_windows_done,
                    add_records,
                    add_errors,
                    last_error,
                    at,
                    sync_id,
                ),
            ).fetchall()
        )
        return sync_from_row(rows[0]) if rows else None

    async def get_sync(self, sync_id: str) -> Sync | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {SYNC_COLUMNS} FROM syncs WHERE sync_id = ?", (sync_id,)
            ).fetchone()
        )
        return None if row is None else sync_from_row(row)

    # ------------------------------------------------------------------ app-level state
    async def put_app_secret(self, vendor: str, name: str, value: str, *, now: float | None = None) -> None:
        at = self._now(now)
        sealed = self._secrets.seal_app_secret(vendor, name, value)
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO app_secrets (vendor, name, value_enc, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (vendor, name) DO UPDATE SET value_enc = excluded.value_enc, "
                "updated_at = excluded.updated_at",
                (vendor, name, sealed, at),
            )
        )

    async def get_app_secrets(self, vendor: str) -> dict[str, str]:
        rows = await self._db.read(
            lambda conn: conn.execute(
                "SELECT name, value_enc FROM app_secrets WHERE vendor = ? ORDER BY name", (vendor,)
            ).fetchall()
        )
        return self._secrets.open_app_secrets(vendor, rows)

    async def put_app_subscription(
        self,
        vendor: str,
        subscription_id: str,
        *,
        expires_at: float | None,
        detail: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> AppSubscription:
        at = self._now(now)
        row = await self._db.write(
            lambda conn: conn.execute(
                f"INSERT INTO app_subscriptions ({APP_SUBSCRIPTION_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (vendor, subscription_id) DO UPDATE SET expires_at = excluded.expires_at, "
                "detail = excluded.detail, updated_at = excluded.updated_at "
                f"RETURNING {APP_SUBSCRIPTION_COLUMNS}",
                (vendor, subscription_id, expires_at, dump_json(dict(detail or {})), at),
            ).fetchall()[0]
        )
        return app_subscription_from_row(row)

    async def list_app_subscriptions(self, vendor: str | None = None) -> list[AppSubscription]:
        where, params = ("WHERE vendor = ? ", (vendor,)) if vendor is not None else ("", ())
        rows = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {APP_SUBSCRIPTION_COLUMNS} FROM app_subscriptions {where}"
                "ORDER BY vendor, CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END, expires_at, "
                "subscription_id",
                params,
            ).fetchall()
        )
        return [app_subscription_from_row(row) for row in rows]

    async def delete_app_subscription(self, vendor: str, subscription_id: str) -> bool:
        count = await self._db.write(
            lambda conn: conn.execute(
                "DELETE FROM app_subscriptions WHERE vendor = ? AND subscription_id = ?",
                (vendor, subscription_id),
            ).rowcount
        )
        return count > 0

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
    ) -> AwaitedWindow:
        at = self._now(now)
        row = await self._db.write(
            lambda conn: conn.execute(
                f"INSERT INTO awaited_windows ({AWAITED_COLUMNS}) VALUES ({_placeholders(8)}) "
                f"RETURNING {AWAITED_COLUMNS}",
                (new_id(at), sync_id, vendor, user_id, resource, to_micros(start), to_micros(end), at),
            ).fetchall()[0]
        )
        return awaited_from_row(row)

    async def complete_awaited_windows(
        self, vendor: str, user_id: str, resource: str, *, start: datetime, end: datetime
    ) -> list[AwaitedWindow]:
        rows = await self._db.write(
            lambda conn: conn.execute(
                "DELETE FROM awaited_windows WHERE vendor = ? AND user_id = ? AND resource = ? "
                f"AND start_us <= ? AND end_us >= ? RETURNING {AWAITED_COLUMNS}",
                (vendor, user_id, resource, to_micros(end), to_micros(start)),
            ).fetchall()
        )
        return [awaited_from_row(row) for row in rows]

    async def expire_awaited_windows(
        self, *, older_than_s: float, now: float | None = None
    ) -> list[AwaitedWindow]:
        cutoff = self._now(now) - older_than_s
        rows = await self._db.write(
            lambda conn: conn.execute(
                f"DELETE FROM awaited_windows WHERE requested_at < ? RETURNING {AWAITED_COLUMNS}",
                (cutoff,),
            ).fetchall()
        )
        return [awaited_from_row(row) for row in rows]

    async def list_awaited_windows(
        self, *, sync_id: str | None = None, vendor: str | None = None, user_id: str | None = None
    ) -> list[AwaitedWindow]:
        where, params = equality_filters(
            (("sync_id", sync_id), ("vendor", vendor), ("user_id", user_id)), "?"
        )
        rows = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {AWAITED_COLUMNS} FROM awaited_windows {where}ORDER BY start_us, id", params
            ).fetchall()
        )
        return [awaited_from_row(row) for row in rows]

    # ------------------------------------------------------------------ housekeeping
    async def prune(
        self,
        *,
        inbox_older_than_s: float = 14 * 86400,
        finished_jobs_older_than_s: float = 7 * 86400,
        now: float | None = None,
    ) -> dict[str, int]:
        at = self._now(now)

        def op(conn: sqlite3.Connection) -> dict[str, int]:
            return {
                "oauth_states": conn.execute(
                    "DELETE FROM oauth_states WHERE expires_at <= ?", (at,)
                ).rowcount,
                "inbox_events": conn.execute(
                    "DELETE FROM inbox_events WHERE received_at < ?", (at - inbox_older_than_s,)
                ).rowcount,
                "jobs": conn.execute(
                    "DELETE FROM jobs WHERE state = 'done' AND updated_at < ?",
                    (at - finished_jobs_older_than_s,),
                ).rowcount,
                "locks": conn.execute("DELETE FROM locks WHERE expires_at < ?", (at,)).rowcount,
            }

        return await self._db.write(op)


async def open_sqlite_store(
    path: Path,
    cipher: TokenCipher,
    *,
    clock: Clock = time.time,
    busy_timeout_ms: int = 5000,
    synchronous: str = "FULL",
) -> SqliteStore:
    """Open (creating if needed) the database file, apply pending migrations."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists()
    db = SqliteDatabase(path, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous)
    await db.open()
    if fresh:
        path.chmod(0o600)  # holds encrypted tokens and users' health data
    return SqliteStore(db, cipher, clock)
