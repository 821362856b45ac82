"""The PostgreSQL adapter of the storage port, for several engine replicas and workers.

Same schema and migrations as the SQLite store; what differs is how concurrency is made safe
without a single writer:
- job claims lock one due row with `FOR UPDATE SKIP LOCKED`, so workers never wait on each other
  and never claim the same job; a running job whose lease lapsed is due again (no cron needed);
- the inbox and idempotent enqueues rely on unique keys (`ON CONFLICT DO NOTHING`);
- rate budgets are rows locked `FOR UPDATE` (in key order) while the GCRA step runs, so every
  replica books from the same schedule;
- single-flight locks are lease rows taken with a conditional upsert.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from engine.store import gcra
from engine.store.codec import decode_sample_cursor, dump_json, new_id, to_micros
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
from engine.store.postgres_db import PostgresDatabase, PostgresOptions
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

Clock = Callable[[], float]
Conn = psycopg.AsyncConnection[Any]


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


async def _one(conn: Conn, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    cursor = await conn.execute(sql, params)
    return await cursor.fetchone()


async def _all(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(sql, params)
    return await cursor.fetchall()


async def _count(conn: Conn, sql: str, params: Sequence[Any] = ()) -> int:
    cursor = await conn.execute(sql, params)
    return cursor.rowcount


class PostgresStore(Store):
    def __init__(self, db: PostgresDatabase, cipher: TokenCipher, clock: Clock = time.time):
        super().__init__()
        self._db = db
        self._secrets = SecretRows(cipher)
        self._clock = clock

    @property
    def options(self) -> PostgresOptions:
        return self._db.options

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._db.run(lambda conn: _all(conn, sql, params), transaction=False)

    async def _read_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return await self._db.run(lambda conn: _one(conn, sql, params), transaction=False)

    async def _write_count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._db.run(lambda conn: _count(conn, sql, params), transaction=False)

    # ------------------------------------------------------------------ lifecycle
    async def ping(self) -> None:
        await self._read_one("SELECT 1")

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

        async def op(conn: Conn) -> tuple[Any, ...] | None:
            try:
                return await link(conn)
            except pg_errors.UniqueViolation:
                raise _VendorUserTaken() from None

        async def link(conn: Conn) -> tuple[Any, ...] | None:
            if vendor_user_id is not None:
                holder = await _one(
                    conn,
                    "SELECT user_id, status FROM connections "
                    "WHERE vendor = %s AND vendor_user_id = %s FOR UPDATE",
                    (vendor, vendor_user_id),
                )
                if holder is not None and holder[0] != user_id:
                    if holder[1] == "active":
                        raise ConnectionConflict(vendor, vendor_user_id, holder[0])
                    await conn.execute(
                        "UPDATE connections SET vendor_user_id = NULL, updated_at = %s "
                        "WHERE vendor = %s AND user_id = %s",
                        (at, vendor, holder[0]),
                    )
            return await _one(
                conn,
                f"INSERT INTO connections ({CONNECTION_COLUMNS}) "
                f"VALUES ({_placeholders(15)}) "
                "ON CONFLICT (vendor, user_id) DO UPDATE SET "
                "vendor_user_id = excluded.vendor_user_id, status = excluded.status, "
                "scopes = excluded.scopes, access_token_enc = excluded.access_token_enc, "
                "refresh_token_enc = COALESCE(excluded.refresh_token_enc, "
                "connections.refresh_token_enc), "
                "token_expires_at = excluded.token_expires_at, "
                "token_version = connections.token_version + 1, extra = excluded.extra, "
                "last_error = NULL, updated_at = excluded.updated_at "
                f"RETURNING {CONNECTION_COLUMNS}",
                values,
            )

        try:
            row = await self._db.run(op)
        except _VendorUserTaken:
            row = await self._db.run(op)  # a concurrent link won the race: re-check the holder
        assert row is not None
        return self._secrets.connection_from_row(row)

    async def get_connection(self, vendor: str, user_id: str) -> Connection | None:
        row = await self._read_one(
            f"SELECT {CONNECTION_COLUMNS} FROM connections WHERE vendor = %s AND user_id = %s",
            (vendor, user_id),
        )
        return None if row is None else self._secrets.connection_from_row(row)

    async def get_connection_by_vendor_user(
        self, vendor: str, vendor_user_id: str
    ) -> Connection | None:
        row = await self._read_one(
            f"SELECT {CONNECTION_COLUMNS} FROM connections "
            "WHERE vendor = %s AND vendor_user_id = %s",
            (vendor, vendor_user_id),
        )
        return None if row is None else self._secrets.connection_from_row(row)

    async def list_connections(
        self,
        *,
        user_id: str | None = None,
        vendor: str | None = None,
        status: str | None = None,
    ) -> list[Connection]:
        where, params = equality_filters(
            (("user_id", user_id), ("vendor", vendor), ("status", status)), "%s"
        )
        rows = await self._read(
            f"SELECT {CONNECTION_COLUMNS} FROM connections {where}ORDER BY user_id, vendor",
            params,
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
        row = await self._read_one(
            "UPDATE connections SET access_token_enc = %s, "
            "refresh_token_enc = COALESCE(%s, refresh_token_enc), token_expires_at = %s, "
            "scopes = COALESCE(%s, scopes), token_version = token_version + 1, updated_at = %s "
            "WHERE vendor = %s AND user_id = %s AND token_version = %s "
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
        )
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
            "UPDATE connections SET status = %s, last_error = %s, updated_at = %s "
            "WHERE vendor = %s AND user_id = %s"
        )
        params: list[Any] = [status, last_error, at, vendor, user_id]
        if expected_version is not None:
            sql += " AND token_version = %s"
            params.append(expected_version)
        return await self._write_count(sql, params) == 1

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
        changed = await self._write_count(
            "UPDATE connections SET last_webhook_at = COALESCE(%s, last_webhook_at), "
            "last_pull_at = COALESCE(%s, last_pull_at), "
            "last_error = CASE WHEN %s THEN NULL ELSE COALESCE(%s, last_error) END, "
            "updated_at = %s WHERE vendor = %s AND user_id = %s",
            (last_webhook_at, last_pull_at, clear_error, last_error, at, vendor, user_id),
        )
        return changed == 1

    async def purge_tokens(
        self, vendor: str, user_id: str, *, status: str = "revoked", now: float | None = None
    ) -> bool:
        check_status(status)
        at = self._now(now)
        changed = await self._write_count(
            "UPDATE connections SET access_token_enc = NULL, refresh_token_enc = NULL, "
            "token_expires_at = NULL, token_version = token_version + 1, status = %s, "
            "updated_at = %s WHERE vendor = %s AND user_id = %s",
            (status, at, vendor, user_id),
        )
        return changed == 1

    async def delete_connection(self, vendor: str, user_id: str) -> bool:
        changed = await self._write_count(
            "DELETE FROM connections WHERE vendor = %s AND user_id = %s", (vendor, user_id)
        )
        return changed == 1

    # ------------------------------------------------------------------ locks
    async def _lock_try_acquire(self, name: str, owner: str, ttl_s: float) -> float | None:
        at = self._clock()
        row = await self._read_one(
            "INSERT INTO locks (name, owner, expires_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
            "expires_at = excluded.expires_at "
            "WHERE locks.expires_at <= %s OR locks.owner = excluded.owner "
            "RETURNING expires_at",
            (name, owner, at + ttl_s, at),
        )
        return None if row is None else row[0]

    async def _lock_extend(self, name: str, owner: str, ttl_s: float) -> float | None:
        row = await self._read_one(
            "UPDATE locks SET expires_at = %s WHERE name = %s AND owner = %s RETURNING expires_at",
            (self._clock() + ttl_s, name, owner),
        )
        return None if row is None else row[0]

    async def _lock_release(self, name: str, owner: str) -> None:
        await self._write_count("DELETE FROM locks WHERE name = %s AND owner = %s", (name, owner))

    # ------------------------------------------------------------------ oauth states
    async def put_oauth_state(self, state: OAuthState) -> None:
        if not state.state_id:
            raise ValueError("state_id must not be empty")
        await self._write_count(
            f"INSERT INTO oauth_states ({STATE_COLUMNS}) VALUES ({_placeholders(8)})",
            self._secrets.state_values(state, state.created_at or self._clock()),
        )

    async def consume_oauth_state(
        self, state_id: str, *, now: float | None = None
    ) -> OAuthState | None:
        at = self._now(now)
        row = await self._read_one(
            f"DELETE FROM oauth_states WHERE state_id = %s RETURNING {STATE_COLUMNS}",
            (state_id,),
        )
        if row is None or row[6] <= at:
            return None
        return self._secrets.state_from_row(row)

    # ------------------------------------------------------------------ inbox and jobs
    @staticmethod
    async def _insert_job(conn: Conn, job: JobSpec, at: float) -> EnqueueResult:
        job_id = new_id(at)
        inserted = await _count(
            conn,
            f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({_placeholders(15)}) "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            job_values(job_id, job, at),
        )
        if inserted == 1:
            return EnqueueResult(job_id, True)
        existing = await _one(
            conn, "SELECT id FROM jobs WHERE idempotency_key = %s", (job.idempotency_key or None,)
        )
        assert existing is not None
        return EnqueueResult(existing[0], False)

    @staticmethod
    async def _retire_started_generation(
        conn: Conn, event: InboxEvent, job: JobSpec, at: float
    ) -> None:
        """Move a repeatable event's stored row, and a job holding its idempotency key, aside
        unless that job is still waiting for its first run: the new delivery is then recorded
        as a new event with a new job."""
        await conn.execute(
            "UPDATE inbox_events SET event_key = event_key || '@' || COALESCE(job_id, %s) "
            "WHERE vendor = %s AND event_key = %s AND NOT EXISTS (SELECT 1 FROM jobs "
            f"WHERE jobs.id = inbox_events.job_id AND {WAITING_FIRST_RUN})",
            (new_id(at), event.vendor, event.event_key),
        )
        if job.idempotency_key:
            await conn.execute(
                "UPDATE jobs SET idempotency_key = idempotency_key || '@' || id "
                f"WHERE idempotency_key = %s AND NOT ({WAITING_FIRST_RUN})",
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
        for event, job in items:
            check_event(event)
            if job is not None:
                check_job(job)
        prepared = [
            (event, job, dump_json(dict(event.payload)), event.received_at or at)
            for event, job in items
        ]
        # Concurrent batches sharing events take their key locks in the same order: no deadlock.
        order = sorted(
            range(len(prepared)), key=lambda i: (items[i][0].vendor, items[i][0].event_key)
        )

        async def op(conn: Conn) -> list[RecordResult]:
            results: list[RecordResult | None] = [None] * len(prepared)
            for index in order:
                event, job, payload, received_at = prepared[index]
                if event.repeatable and job is not None:
                    await self._retire_started_generation(conn, event, job, at)
                created = (
                    await _count(
                        conn,
                        f"INSERT INTO inbox_events ({INBOX_EVENT_COLUMNS}) "
                        f"VALUES ({_placeholders(9)}) ON CONFLICT (vendor, event_key) DO NOTHING",
                        inbox_event_values(event, payload, received_at),
                    )
                    == 1
                )
                job_id = None
                if created and job is not None:
                    job_id = (await self._insert_job(conn, job, at)).job_id
                    await conn.execute(
                        "UPDATE inbox_events SET job_id = %s WHERE vendor = %s AND event_key = %s",
                        (job_id, event.vendor, event.event_key),
                    )
                results[index] = RecordResult(created=created, job_id=job_id)
            # After the inbox rows, in a fixed order: concurrent deliveries cannot deadlock here.
            for vendor, user_id in sorted(set(webhook_from)):
                await conn.execute(
                    "UPDATE connections SET last_webhook_at = %s, updated_at = %s "
                    "WHERE vendor = %s AND user_id = %s",
                    (at, at, vendor, user_id),
                )
            return [result for result in results if result is not None]

        return await self._db.run(op)

    async def enqueue(self, job: JobSpec, *, now: float | None = None) -> EnqueueResult:
        return (await self.enqueue_many([job], now=now))[0]

    async def enqueue_many(
        self, jobs: Sequence[JobSpec], *, now: float | None = None
    ) -> list[EnqueueResult]:
        at = self._now(now)
        for job in jobs:
            check_job(job)

        async def op(conn: Conn) -> list[EnqueueResult]:
            return [await self._insert_job(conn, job, at) for job in jobs]

        return await self._db.run(op)

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
            kind_filter = " AND kind = ANY(%s)"
            kind_params = [list(kinds)]

        # One statement, so one round trip: retire lapsed leases on their last attempt (dead
        # letters, not work), then lease the oldest lapsed job, else the next due one. Rows
        # another worker is claiming right now are skipped, never waited for.
        sql = (
            "WITH retired AS (UPDATE jobs SET state = 'dead', lease_owner = NULL, "
            "lease_expires_at = NULL, last_error = %s, updated_at = %s WHERE id IN ("
            "SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at <= %s "
            "AND attempts >= max_attempts FOR UPDATE SKIP LOCKED) RETURNING id), "
            "lapsed AS (SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at <= %s "
            f"AND attempts < max_attempts{kind_filter} ORDER BY lease_expires_at LIMIT 1 "
            "FOR UPDATE SKIP LOCKED), "
            f"due AS (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= %s{kind_filter} "
            "ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED), "
            "pick AS (SELECT id FROM lapsed UNION ALL SELECT id FROM due LIMIT 1) "
            "UPDATE jobs SET state = 'running', lease_owner = %s, lease_expires_at = %s, "
            "attempts = attempts + 1, updated_at = %s FROM pick WHERE jobs.id = pick.id "
            f"RETURNING {', '.join('jobs.' + c.strip() for c in JOB_COLUMNS.split(','))}"
        )
        params = [
            LEASE_LOST, at, at,
            at, *kind_params,
            at, *kind_params,
            worker_id, at + lease_s, at,
        ]  # fmt: skip

        async def op(conn: Conn) -> Job | None:
            row = await _one(conn, sql, params)
            return None if row is None else job_from_row(row)

        return await self._db.run(op, transaction=False)

    async def next_due_at(self, *, kinds: Sequence[str] | None = None) -> float | None:
        kind_filter, kind_params = "", []
        if kinds is not None:
            if not kinds:
                return None
            kind_filter = " AND kind = ANY(%s)"
            kind_params = [list(kinds)]
        row = await self._read_one(
            f"SELECT (SELECT MIN(run_at) FROM jobs WHERE state = 'queued'{kind_filter}), "
            f"(SELECT MIN(lease_expires_at) FROM jobs WHERE state = 'running'{kind_filter})",
            [*kind_params, *kind_params],
        )
        assert row is not None
        times = [t for t in row if t is not None]
        return min(times) if times else None

    async def heartbeat(
        self, job_id: str, worker_id: str, *, lease_s: float = 30.0, now: float | None = None
    ) -> bool:
        at = self._now(now)
        changed = await self._write_count(
            "UPDATE jobs SET lease_expires_at = %s, updated_at = %s "
            "WHERE id = %s AND lease_owner = %s AND state = 'running'",
            (at + lease_s, at, job_id, worker_id),
        )
        return changed == 1

    async def ack(self, job_id: str, worker_id: str, *, now: float | None = None) -> bool:
        at = self._now(now)
        changed = await self._write_count(
            "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, "
            "updated_at = %s WHERE id = %s AND lease_owner = %s AND state = 'running'",
            (at, job_id, worker_id),
        )
        return changed == 1

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
        row = await self._read_one(
            "UPDATE jobs SET state = CASE WHEN %s THEN 'failed' "
            "WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, "
            "lease_owner = NULL, lease_expires_at = NULL, last_error = %s, run_at = %s, "
            "updated_at = %s WHERE id = %s AND lease_owner = %s AND state = 'running' "
            "RETURNING state",
            (permanent, error, at if retry_at is None else retry_at, at, job_id, worker_id),
        )
        return None if row is None else row[0]

    async def release(
        self, job_id: str, worker_id: str, *, run_at: float | None = None, now: float | None = None
    ) -> bool:
        at = self._now(now)
        changed = await self._write_count(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, "
            "attempts = GREATEST(attempts - 1, 0), run_at = %s, updated_at = %s "
            "WHERE id = %s AND lease_owner = %s AND state = 'running'",
            (at if run_at is None else run_at, at, job_id, worker_id),
        )
        return changed == 1

    async def get_job(self, job_id: str) -> Job | None:
        row = await self._read_one(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = %s", (job_id,))
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
                clauses.append(f"{column} {op} %s")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        params.append(max(1, min(limit, MAX_PAGE)))
        rows = await self._read(
            f"SELECT {JOB_COLUMNS} FROM jobs {where}ORDER BY id LIMIT %s", params
        )
        return [job_from_row(row) for row in rows]

    async def retry_job(self, job_id: str, *, now: float | None = None) -> bool:
        at = self._now(now)
        changed = await self._write_count(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_at = %s, updated_at = %s "
            "WHERE id = %s AND state IN ('failed', 'dead')",
            (at, at, job_id),
        )
        return changed == 1

    async def count_jobs(self) -> dict[str, int]:
        rows = await self._read("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        counts = dict.fromkeys(JOB_STATES, 0)
        counts.update({state: count for state, count in rows})
        return counts

    # ------------------------------------------------------------------ cursors
    async def get_cursor(self, vendor: str, user_id: str, resource: str) -> str | None:
        row = await self._read_one(
            "SELECT value FROM cursors WHERE vendor = %s AND user_id = %s AND resource = %s",
            (vendor, user_id, resource),
        )
        return None if row is None else row[0]

    async def set_cursor(
        self, vendor: str, user_id: str, resource: str, value: str, *, now: float | None = None
    ) -> None:
        at = self._now(now)
        await self._write_count(
            "INSERT INTO cursors (vendor, user_id, resource, value, updated_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (vendor, user_id, resource) DO UPDATE SET "
            "value = excluded.value, updated_at = excluded.updated_at",
            (vendor, user_id, resource, value, at),
        )

    # ------------------------------------------------------------------ rate budgets
    @staticmethod
    async def _lock_budgets(conn: Conn, keys: Sequence[str]) -> dict[str, gcra.BudgetRow | None]:
        """Lock the budget rows (creating placeholders for new keys) in key order. A placeholder
        has tat 0, which the GCRA step reads exactly like a missing row."""
        await conn.execute(
            f"INSERT INTO budgets ({BUDGET_COLUMNS}) "
            "SELECT key, 0, 0, 0, 0, 0 FROM unnest(%s::text[]) AS key "
            "ON CONFLICT (budget_key) DO NOTHING",
            (list(keys),),
        )
        rows = await _all(
            conn,
            "SELECT budget_key, tat, emission_s, tau_s, blocked_until FROM budgets "
            "WHERE budget_key = ANY(%s) ORDER BY budget_key FOR UPDATE",
            (list(keys),),
        )
        locked: dict[str, gcra.BudgetRow | None] = {
            key: (
                None if tat == 0 and blocked == 0 else gcra.BudgetRow(tat, emission, tau, blocked)
            )
            for key, tat, emission, tau, blocked in rows
        }
        return locked

    @staticmethod
    async def _write_budget(conn: Conn, key: str, row: gcra.BudgetRow, at: float) -> None:
        await conn.execute(
            "UPDATE budgets SET tat = %s, emission_s = %s, tau_s = %s, blocked_until = %s, "
            "updated_at = %s WHERE budget_key = %s",
            (row.tat, row.emission_s, row.tau_s, row.blocked_until, at, key),
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
        keys = sorted({request.key for request in requests})

        async def op(conn: Conn) -> BudgetGrant:
            stored = await self._lock_budgets(conn, keys)
            at = self._now(now)  # read while holding the rows: grants are ordered by time
            pending = dict(stored)
            wait = 0.0
            for request in requests:
                reservation = gcra.reserve(request, pending[request.key], at)
                wait = max(wait, reservation.wait_s)
                pending[request.key] = reservation.row
            if wait > max_wait_s:
                raise _NotGranted(wait)  # rolls back any placeholder rows
            for key, row in pending.items():
                assert row is not None
                await self._write_budget(conn, key, row, at)
            return BudgetGrant(granted=True, wait_s=wait)

        try:
            return await self._db.run(op)
        except _NotGranted as refused:
            return BudgetGrant(granted=False, wait_s=refused.wait_s)

    async def penalize_budget(self, key: str, until: float, *, now: float | None = None) -> None:
        at = self._now(now)

        async def op(conn: Conn) -> None:
            stored = await self._lock_budgets(conn, [key])
            await self._write_budget(conn, key, gcra.penalize(stored[key], until), at)

        await self._db.run(op)

    async def get_budget(self, key: str) -> BudgetState | None:
        row = await self._read_one(
            f"SELECT {BUDGET_COLUMNS} FROM budgets WHERE budget_key = %s", (key,)
        )
        return None if row is None else budget_from_row(row)

    async def list_budgets(self, prefix: str = "") -> list[BudgetState]:
        rows = await self._read(
            f"SELECT {BUDGET_COLUMNS} FROM budgets "
            "WHERE left(budget_key, length(%s)) = %s ORDER BY budget_key",
            (prefix, prefix),
        )
        return [budget_from_row(row) for row in rows]

    # ------------------------------------------------------------------ samples
    async def upsert_samples(
        self, samples: Sequence[SampleRecord], *, now: float | None = None
    ) -> UpsertResult:
        at = self._now(now)
        rows = sample_rows(samples, at)
        if not rows:
            return UpsertResult(written=0, skipped=0)
        # Same identity twice in one batch would make a single statement touch a row twice; the
        # rows go one by one in identity order, which also keeps concurrent batches deadlock-free.
        rows.sort(key=lambda row: (row[1], row[2], row[3], row[4]))

        async def op(conn: Conn) -> int:
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    f"INSERT INTO samples ({SAMPLE_COLUMNS}) VALUES ({_placeholders(13)}) "
                    "ON CONFLICT (user_id, source, sample_type, dedup_id) DO UPDATE SET "
                    "timestamp_us = excluded.timestamp_us, end_us = excluded.end_us, "
                    "deleted = excluded.deleted, "
                    "vendor_updated_us = COALESCE(excluded.vendor_updated_us, "
                    "samples.vendor_updated_us), "
                    "resource = excluded.resource, vendor_record_id = excluded.vendor_record_id, "
                    "payload = excluded.payload, stored_at = excluded.stored_at "
                    # Latest vendor version wins; a version-less write never resurrects a tombstone.
                    "WHERE samples.vendor_updated_us IS NULL "
                    "OR excluded.vendor_updated_us >= samples.vendor_updated_us "
                    "OR (excluded.vendor_updated_us IS NULL AND samples.deleted = 0)",
                    rows,
                )
                return cursor.rowcount

        written = await self._db.run(op)
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
            "UPDATE samples SET deleted = 1, stored_at = %s, vendor_updated_us = CASE "
            "WHEN vendor_updated_us IS NULL OR vendor_updated_us < %s THEN %s "
            "ELSE vendor_updated_us END "
            "WHERE user_id = %s AND source = %s AND vendor_record_id = %s "
            "AND (vendor_updated_us IS NULL OR vendor_updated_us <= %s)"
        )
        params: list[Any] = [at, version, version, user_id, source, vendor_record_id, version]
        if resource is not None:
            sql += " AND resource = %s"
            params.append(resource)
        return await self._write_count(sql, params)

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
            "UPDATE samples SET deleted = 1, stored_at = %s "
            "WHERE user_id = %s AND source = %s AND resource = %s AND deleted = 0 "
            "AND timestamp_us >= %s AND timestamp_us < %s"
        )
        params: list[Any] = [at, user_id, source, resource, to_micros(start), to_micros(end)]
        if stored_before is not None:
            sql += " AND stored_at < %s"
            params.append(stored_before)
        return await self._write_count(sql, params)

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
        clauses, params = ["user_id = %s"], [user_id]
        if sample_types:
            clauses.append("sample_type = ANY(%s)")
            params.append(list(sample_types))
        if source is not None:
            clauses.append("source = %s")
            params.append(source)
        if since is not None:
            clauses.append("timestamp_us >= %s")
            params.append(to_micros(since))
        if until is not None:
            clauses.append("timestamp_us < %s")
            params.append(to_micros(until))
        if not include_deleted:
            clauses.append("deleted = 0")
        if cursor is not None:
            after_us, after_id = decode_sample_cursor(cursor)
            clauses.append("(timestamp_us, id) > (%s, %s)")
            params.extend([after_us, after_id])
        params.append(limit + 1)
        rows = await self._read(
            f"SELECT {SAMPLE_COLUMNS} FROM samples WHERE {' AND '.join(clauses)} "
            "ORDER BY timestamp_us, id LIMIT %s",
            params,
        )
        return sample_page(rows, limit)

    async def delete_user_data(self, user_id: str) -> dict[str, int]:
        async def op(conn: Conn) -> dict[str, int]:
            linked = await _all(
                conn,
                "SELECT vendor, vendor_user_id FROM connections "
                "WHERE user_id = %s AND vendor_user_id IS NOT NULL",
                (user_id,),
            )
            events = await _count(conn, "DELETE FROM inbox_events WHERE user_id = %s", (user_id,))
            for vendor, vendor_user_id in linked:
                events += await _count(
                    conn,
                    "DELETE FROM inbox_events WHERE vendor = %s AND vendor_user_id = %s",
                    (vendor, vendor_user_id),
                )
            counts = {"inbox_events": events}
            for table in (
                "connections",
                "oauth_states",
                "cursors",
                "samples",
                "jobs",
                "syncs",
                "awaited_windows",
            ):
                counts[table] = await _count(
                    conn, f"DELETE FROM {table} WHERE user_id = %s", (user_id,)
                )
            return counts

        return await self._db.run(op)

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
        row = await self._read_one(
            f"INSERT INTO syncs ({SYNC_COLUMNS}) VALUES ({_placeholders(12)}) "
            f"RETURNING {SYNC_COLUMNS}",
            sync_values(sync_id, vendor, user_id, windows_total, clipped_note, detail, at),
        )
        assert row is not None
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
        row = await self._read_one(
            "UPDATE syncs SET windows_total = windows_total + %s, "
            "windows_done = windows_done + %s, records = records + %s, errors = errors + %s, "
            "last_error = COALESCE(%s, last_error), updated_at = %s WHERE sync_id = %s "
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
        )
        return None if row is None else sync_from_row(row)

    async def get_sync(self, sync_id: str) -> Sync | None:
        row = await self._read_one(
            f"SELECT {SYNC_COLUMNS} FROM syncs WHERE sync_id = %s", (sync_id,)
        )
        return None if row is None else sync_from_row(row)

    # ------------------------------------------------------------------ app-level state
    async def _write_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._db.run(lambda conn: _all(conn, sql, params))

    async def put_app_secret(
        self, vendor: str, name: str, value: str, *, now: float | None = None
    ) -> None:
        at = self._now(now)
        sealed = self._secrets.seal_app_secret(vendor, name, value)
        await self._write_count(
            "INSERT INTO app_secrets (vendor, name, value_enc, updated_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (vendor, name) DO UPDATE SET value_enc = excluded.value_enc, "
            "updated_at = excluded.updated_at",
            (vendor, name, sealed, at),
        )

    async def get_app_secrets(self, vendor: str) -> dict[str, str]:
        rows = await self._read(
            "SELECT name, value_enc FROM app_secrets WHERE vendor = %s ORDER BY name", (vendor,)
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
        rows = await self._write_rows(
            f"INSERT INTO app_subscriptions ({APP_SUBSCRIPTION_COLUMNS}) VALUES ({_placeholders(5)}) "
            "ON CONFLICT (vendor, subscription_id) DO UPDATE SET expires_at = excluded.expires_at, "
            "detail = excluded.detail, updated_at = excluded.updated_at "
            f"RETURNING {APP_SUBSCRIPTION_COLUMNS}",
            (vendor, subscription_id, expires_at, dump_json(dict(detail or {})), at),
        )
        return app_subscription_from_row(rows[0])

    async def list_app_subscriptions(self, vendor: str | None = None) -> list[AppSubscription]:
        where, params = ("WHERE vendor = %s ", (vendor,)) if vendor is not None else ("", ())
        rows = await self._read(
            f"SELECT {APP_SUBSCRIPTION_COLUMNS} FROM app_subscriptions {where}"
            "ORDER BY vendor, CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END, expires_at, "
            "subscription_id",
            params,
        )
        return [app_subscription_from_row(row) for row in rows]

    async def delete_app_subscription(self, vendor: str, subscription_id: str) -> bool:
        count = await self._write_count(
            "DELETE FROM app_subscriptions WHERE vendor = %s AND subscription_id = %s",
            (vendor, subscription_id),
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
        rows = await self._write_rows(
            f"INSERT INTO awaited_windows ({AWAITED_COLUMNS}) VALUES ({_placeholders(8)}) "
            f"RETURNING {AWAITED_COLUMNS}",
            (new_id(at), sync_id, vendor, user_id, resource, to_micros(start), to_micros(end), at),
        )
        return awaited_from_row(rows[0])

    async def complete_awaited_windows(
        self, vendor: str, user_id: str, resource: str, *, start: datetime, end: datetime
    ) -> list[AwaitedWindow]:
        rows = await self._write_rows(
            "DELETE FROM awaited_windows WHERE vendor = %s AND user_id = %s AND resource = %s "
            f"AND start_us <= %s AND end_us >= %s RETURNING {AWAITED_COLUMNS}",
            (vendor, user_id, resource, to_micros(end), to_micros(start)),
        )
        return [awaited_from_row(row) for row in rows]

    async def expire_awaited_windows(
        self, *, older_than_s: float, now: float | None = None
    ) -> list[AwaitedWindow]:
        cutoff = self._now(now) - older_than_s
        rows = await self._write_rows(
            f"DELETE FROM awaited_windows WHERE requested_at < %s RETURNING {AWAITED_COLUMNS}",
            (cutoff,),
        )
        return [awaited_from_row(row) for row in rows]

    async def list_awaited_windows(
        self, *, sync_id: str | None = None, vendor: str | None = None, user_id: str | None = None
    ) -> list[AwaitedWindow]:
        where, params = equality_filters(
            (("sync_id", sync_id), ("vendor", vendor), ("user_id", user_id)), "%s"
        )
        rows = await self._read(
            f"SELECT {AWAITED_COLUMNS} FROM awaited_windows {where}ORDER BY start_us, id", params
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

        async def op(conn: Conn) -> dict[str, int]:
            return {
                "oauth_states": await _count(
                    conn, "DELETE FROM oauth_states WHERE expires_at <= %s", (at,)
                ),
                "inbox_events": await _count(
                    conn,
                    "DELETE FROM inbox_events WHERE received_at < %s",
                    (at - inbox_older_than_s,),
                ),
                "jobs": await _count(
                    conn,
                    "DELETE FROM jobs WHERE state = 'done' AND updated_at < %s",
                    (at - finished_jobs_older_than_s,),
                ),
                "locks": await _count(conn, "DELETE FROM locks WHERE expires_at < %s", (at,)),
            }

        return await self._db.run(op)


class _NotGranted(Exception):
    def __init__(self, wait_s: float) -> None:
        super().__init__(f"budget wait {wait_s:.3f}s exceeds the limit")
        self.wait_s = wait_s


class _VendorUserTaken(Exception):
    """Two transactions linked the same vendor account at once; the loser re-checks."""


async def open_postgres_store(
    options: PostgresOptions, cipher: TokenCipher, *, clock: Clock = time.time
) -> PostgresStore:
    """Connect, apply pending migrations (once, even when replicas start together), open the
    pool. Raises `StoreUnavailable` when the server cannot be reached."""
    db = PostgresDatabase(options)
    await db.open()
    return PostgresStore(db, cipher, clock)
