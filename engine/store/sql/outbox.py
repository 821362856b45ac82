"""The outbox and outbound delivery: events written in the transaction of the change they report,
the customer's endpoints, dispatch (feed position + one delivery per subscribed endpoint), leased
delivery claims in order per (endpoint, user), and the changes feed.

The transaction-level writers (`add_event`, `add_events`; for samples, `sample_changes`) are what
the other concerns call inside their own transactions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from engine.store.codec import dump_json, dump_payload, load_json, new_id
from engine.store.outbox_records import (
    ClaimedDelivery,
    Delivery,
    DeliveryPolicy,
    Endpoint,
    EndpointSecret,
    OutboxEvent,
)
from engine.store.sql.dialect import MAX_PAGE, Concern, Row, Tx, insert, marks, where

EVENT_COLUMNS = "id, seq, event_type, user_id, origin, payload, created_at, dispatched_at"
ENDPOINT_COLUMNS = (
    "id, url, event_types, include_remap, description, secrets, status, paused_reason, "
    "failing_since, consecutive_failures, created_at, updated_at"
)
DELIVERY_COLUMNS = (
    "endpoint_id, event_id, seq, user_id, state, attempts, next_at, last_status, last_error, "
    "created_at, delivered_at"
)
_DELIVERY_INSERT = (
    "endpoint_id, event_id, seq, user_id, state, attempts, next_at, created_at, updated_at"
)
DEFAULT_INLINE_SAMPLES = 100
DEFAULT_RETENTION_S = 14 * 86400.0
_SECRET_VENDOR = "outbound"  # what endpoint secrets are sealed as (bound to the endpoint id)
_OPEN = "('pending', 'sending')"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_row(event_type: str, payload: Mapping[str, Any], *, user_id: str | None, origin: str,
              at: float) -> Row:
    return ("evt_" + new_id(at), None, event_type, user_id, origin, dump_payload(payload), at, None)


async def add_event(tx: Tx, event_type: str, payload: Mapping[str, Any], *, user_id: str | None,
                    origin: str, at: float) -> str:
    row = event_row(event_type, payload, user_id=user_id, origin=origin, at=at)
    await tx.count(insert("outbox_events", EVENT_COLUMNS), row)
    return str(row[0])


async def add_events(tx: Tx, rows: list[Row]) -> None:
    if rows:
        await tx.insert_many("outbox_events", EVENT_COLUMNS, rows)


# --------------------------------------------------------------------------- sync events


async def _sync_report(tx: Tx, sync_id: str, vendor: str, user_id: str, resource: str,
                       planned: Any) -> dict[str, Any]:
    done, stored, errors = await tx.one(
        "SELECT COUNT(*), SUM(records), SUM(failed) FROM outbox_sync_windows "
        "WHERE sync_id = ? AND resource = ?", (sync_id, resource)) or (0, 0, 0)
    return {"sync_id": sync_id, "user_id": user_id, "vendor": vendor, "resource": resource,
            "windows_done": int(done), "windows_total": planned, "records": int(stored or 0),
            "errors": int(errors or 0)}


async def report_sync_cancelled(tx: Tx, sync_id: str, *, at: float) -> int:
    """In the cancelling transaction (before `cancelled_at` is set): end each resource of the sync
    that had not completed with sync.completed saying `cancelled`; how many were written. A sync
    already cancelled writes nothing again."""
    sync = await tx.one("SELECT vendor, user_id, detail, cancelled_at FROM syncs WHERE sync_id = ?", (sync_id,))
    if sync is None or sync[3] is not None:
        return 0
    vendor, user_id, detail = sync[0], sync[1], load_json(sync[2])
    written = 0
    for resource, planned in (detail.get("resources") or {}).items():
        data = await _sync_report(tx, sync_id, vendor, user_id, resource, planned)
        if isinstance(planned, int) and data["windows_done"] >= planned:
            continue  # it completed before the cancellation, and said so
        await add_event(tx, "sync.completed", {**data, "cancelled": True}, user_id=user_id, origin="backfill", at=at)
        written += 1
    return written


async def _record_successes(tx: Tx, items: list[tuple[str, str, str, int, float]]) -> list[bool]:
    """`delivery_succeeded` for a group of answers: each delivery that is still this worker's
    becomes delivered, and each endpoint that answered ends its failure streak."""
    recorded = []
    for endpoint_id, event_id, worker_id, status, at in items:
        recorded.append(await tx.count(
            "UPDATE outbound_deliveries SET state = 'delivered', delivered_at = ?, last_status = ?, "
            "last_error = NULL, attempts = attempts + 1, lease_owner = NULL, lease_expires_at = NULL, "
            "updated_at = ? WHERE endpoint_id = ? AND event_id = ? AND lease_owner = ? "
            "AND state = 'sending'", (at, status, at, endpoint_id, event_id, worker_id)) == 1)
    for endpoint_id in sorted({item[0] for item, done in zip(items, recorded, strict=True) if done}):
        await tx.count("UPDATE outbound_endpoints SET consecutive_failures = 0, "
                       "failing_since = NULL WHERE id = ? AND consecutive_failures > 0", (endpoint_id,))
    return recorded


# --------------------------------------------------------------------------- decoding


def _event(row: Row) -> OutboxEvent:
    return OutboxEvent(row[0], row[1], row[2], row[3], row[4], load_json(row[5]), row[6], row[7])


def _delivery(row: Row) -> Delivery:
    return Delivery(*row)


class ReportsChanges:
    """Mixed into the concerns whose changes go to the outbox: whether they do, and how many
    samples an event carries inline (`Outbox.configure_outbox` sets both)."""

    _outbox_enabled: bool = True
    _inline_samples: int = DEFAULT_INLINE_SAMPLES
    _outbox_retention_s: float = DEFAULT_RETENTION_S


class Outbox(ReportsChanges, Concern):
    """Outbound delivery: the outbox (written by the sample and connection writes themselves, in
    their transactions), the customer's endpoints, deliveries and the changes feed. Records are
    in `engine.store.outbox_records`."""

    def configure_outbox(self, *, enabled: bool = True, inline_samples: int = DEFAULT_INLINE_SAMPLES,
                         retention_s: float = DEFAULT_RETENTION_S) -> None:
        """Whether changes write outbox events, how many samples an event carries inline, and how
        long finished deliveries and their events are kept (`prune` drops them after)."""
        self._outbox_enabled = enabled
        self._inline_samples = max(0, inline_samples)
        self._outbox_retention_s = retention_s

    @property
    def outbox_enabled(self) -> bool:
        return self._outbox_enabled

    async def add_outbox_event(self, event_type: str, payload: Mapping[str, Any], *,
                               user_id: str | None = None, origin: str = "live",
                               now: float | None = None) -> str:
        """Write one event on its own (returns its id)."""
        at = self._now(now)
        return await self._ex.transaction(lambda tx: add_event(
            tx, event_type, payload, user_id=user_id, origin=origin, at=at))

    # ------------------------------------------------------------------ endpoints

    def _endpoint(self, row: Row) -> Endpoint:
        secrets = tuple(
            EndpointSecret(self._open(item["enc"], _SECRET_VENDOR, row[0], f"secret:{item['n']}") or "",
                           item.get("expires_at"))
            for item in load_json(row[5]))
        return Endpoint(row[0], row[1], tuple(load_json(row[2])), bool(row[3]), row[4], secrets,
                        row[6], row[7], row[8], row[9], row[10], row[11])

    def _sealed(self, endpoint_id: str, n: int, secret: str, expires_at: float | None) -> dict[str, Any]:
        return {"n": n, "enc": self._seal(secret, _SECRET_VENDOR, endpoint_id, f"secret:{n}"),
                "expires_at": expires_at}

    async def create_endpoint(self, url: str, *, secret: str, event_types: Sequence[str] = (),
                              include_remap: bool = True, description: str | None = None,
                              now: float | None = None) -> Endpoint:
        at = self._now(now)
        endpoint_id = "ep_" + new_id(at)
        secrets = dump_json([self._sealed(endpoint_id, 1, secret, None)])
        rows = await self._ex.write_returning(
            insert("outbound_endpoints", ENDPOINT_COLUMNS) + f" RETURNING {ENDPOINT_COLUMNS}",
            (endpoint_id, url, dump_json(list(event_types)), int(include_remap), description,
             secrets, "active", None, None, 0, at, at))
        return self._endpoint(rows[0])

    async def get_endpoint(self, endpoint_id: str) -> Endpoint | None:
        row = await self._ex.read_one(
            f"SELECT {ENDPOINT_COLUMNS} FROM outbound_endpoints WHERE id = ?", (endpoint_id,))
        return None if row is None else self._endpoint(row)

    async def list_endpoints(self) -> list[Endpoint]:
        rows = await self._ex.read_all(f"SELECT {ENDPOINT_COLUMNS} FROM outbound_endpoints ORDER BY id")
        return [self._endpoint(row) for row in rows]

    async def update_endpoint(self, endpoint_id: str, *, url: str | None = None,
                              event_types: Sequence[str] | None = None,
                              include_remap: bool | None = None, description: str | None = None,
                              status: str | None = None, now: float | None = None) -> Endpoint | None:
        """Change the given fields (None keeps one). Setting `status` clears the pause reason and
        the failure streak (a resumed endpoint starts afresh)."""
        at = self._now(now)
        sets: list[str] = ["updated_at = ?"]
        params: list[Any] = [at]
        for column, value in (("url", url),
                              ("event_types", None if event_types is None else dump_json(list(event_types))),
                              ("include_remap", None if include_remap is None else int(include_remap)),
                              ("description", description), ("status", status)):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        if status is not None:
            sets.append("paused_reason = NULL, failing_since = NULL, consecutive_failures = 0")
        rows = await self._ex.write_returning(
            f"UPDATE outbound_endpoints SET {', '.join(sets)} WHERE id = ? RETURNING {ENDPOINT_COLUMNS}",
            [*params, endpoint_id])
        return self._endpoint(rows[0]) if rows else None

    async def delete_endpoint(self, endpoint_id: str) -> bool:
        async def delete(tx: Tx) -> bool:
            await tx.count("DELETE FROM outbound_deliveries WHERE endpoint_id = ?", (endpoint_id,))
            return await tx.count("DELETE FROM outbound_endpoints WHERE id = ?", (endpoint_id,)) == 1

        return await self._ex.transaction(delete)

    async def rotate_endpoint_secret(self, endpoint_id: str, secret: str, *, overlap_s: float,
                                     now: float | None = None) -> Endpoint | None:
        """`secret` becomes the current one; the previous secrets stay valid for `overlap_s` more
        (those already expiring keep the earlier of their expiry and that), expired ones go."""
        at = self._now(now)

        async def rotate(tx: Tx) -> Row | None:
            row = await tx.one("SELECT secrets FROM outbound_endpoints WHERE id = ?"
                               + tx.dialect.for_update, (endpoint_id,))
            if row is None:
                return None
            kept = []
            for item in load_json(row[0]):
                ends = at + overlap_s if item.get("expires_at") is None else min(item["expires_at"], at + overlap_s)
                if ends > at:
                    kept.append({**item, "expires_at": ends})
            n = max((item["n"] for item in load_json(row[0])), default=0) + 1
            secrets = [self._sealed(endpoint_id, n, secret, None), *kept]
            return await tx.one(f"UPDATE outbound_endpoints SET secrets = ?, updated_at = ? WHERE id = ? "
                                f"RETURNING {ENDPOINT_COLUMNS}", (dump_json(secrets), at, endpoint_id))

        row = await self._ex.transaction(rotate)
        return None if row is None else self._endpoint(row)

    # ------------------------------------------------------------------ dispatch

    async def dispatch_outbox(self, *, limit: int = 500, now: float | None = None) -> int:
        """Give waiting events their feed positions, in id order, and one pending delivery per
        endpoint that subscribes to them. Dispatches are serialised on the counter row. Returns how
        many events were dispatched."""
        at = self._now(now)

        async def dispatch(tx: Tx) -> int:
            counter = await tx.one("UPDATE outbox_counters SET value = value WHERE name = 'seq' RETURNING value")
            assert counter is not None
            events = await tx.all("SELECT id, event_type, user_id, origin, payload FROM outbox_events "
                                  "WHERE dispatched_at IS NULL ORDER BY id LIMIT ?", (limit,))
            if not events:
                return 0
            endpoints = [(row[0], tuple(load_json(row[1])), bool(row[2])) for row in await tx.all(
                "SELECT id, event_types, include_remap FROM outbound_endpoints")]
            deliveries: list[Row] = []
            seq = int(counter[0])
            for event_id, event_type, user_id, origin, payload in events:
                seq += 1
                await tx.count("UPDATE outbox_events SET seq = ?, dispatched_at = ? WHERE id = ?",
                               (seq, at, event_id))
                about = load_json(payload).get("endpoint_id") if event_type == "delivery.failed" else None
                for endpoint_id, types, include_remap in endpoints:
                    if (types and event_type not in types) or (origin == "remap" and not include_remap):
                        continue
                    if endpoint_id == about:  # an endpoint is not told about its own failures
                        continue
                    deliveries.append((endpoint_id, event_id, seq, user_id or "", "pending", 0, at, at, at))
            if deliveries:
                await tx.insert_many("outbound_deliveries", _DELIVERY_INSERT, deliveries)
            await tx.count("UPDATE outbox_counters SET value = ? WHERE name = 'seq'", (seq,))
            return len(events)

        return await self._ex.transaction(dispatch)

    async def outbox_waiting(self) -> int:
        row = await self._ex.read_one("SELECT COUNT(*) FROM outbox_events WHERE dispatched_at IS NULL")
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ deliveries

    async def claim_deliveries(self, worker_id: str, *, limit: int = 16, lease_s: float = 60.0,
                               exclude_endpoints: Sequence[str] = (), endpoint_id: str | None = None,
                               now: float | None = None) -> list[ClaimedDelivery]:
        """Lease up to `limit` deliveries that are due, each the oldest open one of its
        (endpoint, user), on active endpoints not in `exclude_endpoints` (with `endpoint_id`,
        on that one only). A delivery whose lease lapsed (its worker died) is due again."""
        at = self._now(now)
        if limit < 1:
            return []
        exclude = ""
        if exclude_endpoints:
            exclude = f" AND d.endpoint_id NOT IN ({marks(len(exclude_endpoints))})"
        only: list[str] = []
        if endpoint_id is not None:
            exclude += " AND d.endpoint_id = ?"
            only = [endpoint_id]
        lock = " FOR UPDATE OF d SKIP LOCKED" if self._ex.dialect.row_locks else ""
        pick = (
            "SELECT d.endpoint_id, d.event_id FROM outbound_deliveries d "
            "JOIN outbound_endpoints e ON e.id = d.endpoint_id WHERE e.status = 'active' "
            "AND ((d.state = 'pending' AND d.next_at <= ?) OR (d.state = 'sending' AND d.lease_expires_at <= ?))"
            f"{exclude} AND NOT EXISTS (SELECT 1 FROM outbound_deliveries p "
            "WHERE p.endpoint_id = d.endpoint_id AND p.user_id = d.user_id AND p.seq < d.seq "
            f"AND p.state IN {_OPEN}) ORDER BY d.next_at, d.seq LIMIT ?{lock}"
        )

        async def claim(tx: Tx) -> list[tuple[Row, Row, Row]]:
            picked = await tx.all(pick, [at, at, *exclude_endpoints, *only, limit])
            claimed = []
            for endpoint_id, event_id in picked:
                delivery = await tx.one(
                    "UPDATE outbound_deliveries SET state = 'sending', lease_owner = ?, "
                    "lease_expires_at = ?, updated_at = ? WHERE endpoint_id = ? AND event_id = ? "
                    f"RETURNING {DELIVERY_COLUMNS}", (worker_id, at + lease_s, at, endpoint_id, event_id))
                event = await tx.one(f"SELECT {EVENT_COLUMNS} FROM outbox_events WHERE id = ?", (event_id,))
                endpoint = await tx.one(f"SELECT {ENDPOINT_COLUMNS} FROM outbound_endpoints WHERE id = ?",
                                        (endpoint_id,))
                if delivery is not None and event is not None and endpoint is not None:
                    claimed.append((delivery, event, endpoint))
            return claimed

        rows = await self._ex.transaction(claim)
        return [ClaimedDelivery(_delivery(d), _event(e), self._endpoint(p)) for d, e, p in rows]

    async def next_delivery_at(self) -> float | None:
        """The earliest moment a delivery on an active endpoint may become due (or None)."""
        row = await self._ex.read_one(
            "SELECT MIN(CASE WHEN d.state = 'pending' THEN d.next_at ELSE d.lease_expires_at END) "
            "FROM outbound_deliveries d JOIN outbound_endpoints e ON e.id = d.endpoint_id "
            f"WHERE e.status = 'active' AND d.state IN {_OPEN}")
        return None if row is None or row[0] is None else float(row[0])

    async def due_endpoints(self, *, now: float | None = None) -> list[str]:
        """The active endpoints with a delivery due (or a lapsed lease) now."""
        at = self._now(now)
        rows = await self._ex.read_all(
            "SELECT DISTINCT d.endpoint_id FROM outbound_deliveries d JOIN outbound_endpoints e "
            "ON e.id = d.endpoint_id WHERE e.status = 'active' AND ((d.state = 'pending' AND d.next_at <= ?) "
            "OR (d.state = 'sending' AND d.lease_expires_at <= ?)) ORDER BY d.endpoint_id", (at, at))
        return [row[0] for row in rows]

    async def delivery_succeeded(self, endpoint_id: str, event_id: str, worker_id: str, *,
                                 status: int, now: float | None = None) -> bool:
        """Record the 2xx; the endpoint's failure streak ends. False when the lease was lost.
        Answers that arrive together are recorded in one transaction (SQLite's group commit)."""
        return await self._ex.grouped(_record_successes, (endpoint_id, event_id, worker_id, status,
                                                          self._now(now)))

    async def delivery_failed(self, endpoint_id: str, event_id: str, worker_id: str, *,
                              status: int | None, error: str, policy: DeliveryPolicy,
                              now: float | None = None) -> str | None:
        """Record a failed attempt: pending again at `policy.retry_at`, or `failed` (a
        delivery.failed event) when there is none; the endpoint is paused (another
        delivery.failed event) once its failure streak passes the policy's threshold. Returns the
        delivery's new state, or None when the lease was lost."""
        at = self._now(now)

        async def failed(tx: Tx) -> str | None:
            state = "failed" if policy.retry_at is None else "pending"
            row = await tx.one(
                "UPDATE outbound_deliveries SET state = ?, next_at = ?, attempts = attempts + 1, "
                "last_status = ?, last_error = ?, lease_owner = NULL, lease_expires_at = NULL, "
                "updated_at = ? WHERE endpoint_id = ? AND event_id = ? AND lease_owner = ? "
                "AND state = 'sending' RETURNING attempts, user_id, seq",
                (state, policy.retry_at if policy.retry_at is not None else at, status, error[:500], at,
                 endpoint_id, event_id, worker_id))
            if row is None:
                return None
            attempts, user_id, _ = row
            if state == "failed":
                kind = await tx.one("SELECT event_type FROM outbox_events WHERE id = ?", (event_id,))
                await add_event(tx, "delivery.failed", {
                    "reason": "retry_horizon", "endpoint_id": endpoint_id, "event_id": event_id,
                    "event_type": kind[0] if kind else None, "attempts": attempts,
                    "last_status": status, "last_error": error[:500]},
                    user_id=user_id or None, origin="live", at=at)
            streak = await tx.one(
                "UPDATE outbound_endpoints SET consecutive_failures = consecutive_failures + 1, "
                "failing_since = COALESCE(failing_since, ?), updated_at = ? WHERE id = ? "
                "RETURNING consecutive_failures, failing_since, status", (at, at, endpoint_id))
            if (streak is not None and streak[2] == "active" and streak[0] >= policy.pause_after_failures
                    and at - streak[1] >= policy.pause_after_s):
                reason = (f"{streak[0]} failed attempts in a row since "
                          f"{_iso(datetime.fromtimestamp(streak[1], UTC))}; last: {error[:200]}")
                await tx.count("UPDATE outbound_endpoints SET status = 'paused', paused_reason = ?, "
                               "updated_at = ? WHERE id = ?", (reason, at, endpoint_id))
                await add_event(tx, "delivery.failed", {
                    "reason": "endpoint_paused", "endpoint_id": endpoint_id, "event_id": event_id,
                    "attempts": streak[0], "last_status": status, "last_error": error[:500]},
                    user_id=None, origin="live", at=at)
            return state

        return await self._ex.transaction(failed)

    async def list_deliveries(self, *, endpoint_id: str | None = None, event_id: str | None = None,
                              state: str | None = None, limit: int = 100) -> list[Delivery]:
        filters, params = where(("endpoint_id = ?", endpoint_id), ("event_id = ?", event_id),
                                ("state = ?", state))
        rows = await self._ex.read_all(
            f"SELECT {DELIVERY_COLUMNS} FROM outbound_deliveries {filters}ORDER BY seq LIMIT ?",
            [*params, max(1, min(limit, MAX_PAGE))])
        return [_delivery(row) for row in rows]

    async def count_deliveries(self, endpoint_id: str) -> dict[str, int]:
        rows = await self._ex.read_all(
            "SELECT state, COUNT(*) FROM outbound_deliveries WHERE endpoint_id = ? GROUP BY state",
            (endpoint_id,))
        return {**dict.fromkeys(("pending", "sending", "delivered", "failed"), 0), **dict(rows)}

    async def replay_deliveries(self, endpoint_id: str, *, since: float | None = None,
                                until: float | None = None, event_id: str | None = None,
                                now: float | None = None) -> int:
        """Deliver again, now, the dispatched events created in [since, until) that the endpoint
        subscribes to, or the one event `event_id` (whatever it subscribes to). Each keeps its
        feed position, so replayed events go out in order, before newer ones of the same user.
        Returns the number of events queued, or -1 for an unknown endpoint."""
        at = self._now(now)

        async def replay(tx: Tx) -> int:
            endpoint = await tx.one("SELECT event_types, include_remap FROM outbound_endpoints WHERE id = ?",
                                    (endpoint_id,))
            if endpoint is None:
                return -1
            if event_id is not None:
                events = await tx.all("SELECT id, seq, user_id, event_type, origin FROM outbox_events "
                                      "WHERE id = ? AND seq IS NOT NULL", (event_id,))
            else:
                events = await tx.all(
                    "SELECT id, seq, user_id, event_type, origin FROM outbox_events WHERE seq IS NOT NULL "
                    "AND created_at >= ? AND created_at < ? ORDER BY seq",
                    (since if since is not None else 0.0, until if until is not None else at + 1))
                types, include_remap = tuple(load_json(endpoint[0])), bool(endpoint[1])
                events = [e for e in events if (not types or e[3] in types)
                          and (e[4] != "remap" or include_remap)]
            for ev_id, seq, user_id, _, _ in events:
                await tx.count(
                    insert("outbound_deliveries", _DELIVERY_INSERT)
                    + " ON CONFLICT (endpoint_id, event_id) DO UPDATE SET state = 'pending', "
                    "next_at = excluded.next_at, attempts = 0, lease_owner = NULL, "
                    "lease_expires_at = NULL, updated_at = excluded.updated_at",
                    (endpoint_id, ev_id, seq, user_id or "", "pending", 0, at, at, at))
            return len(events)

        return await self._ex.transaction(replay)

    # ------------------------------------------------------------------ the feed

    async def list_changes(self, *, after_seq: int = 0, limit: int = 100,
                           event_types: Sequence[str] | None = None,
                           user_id: str | None = None) -> list[OutboxEvent]:
        """Dispatched events after feed position `after_seq`, in feed order."""
        clauses = ["seq > ?"]
        params: list[Any] = [after_seq]
        if event_types:
            condition, values = self._ex.dialect.any_of("event_type", event_types)
            clauses.append(condition)
            params.extend(values)
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        rows = await self._ex.read_all(
            f"SELECT {EVENT_COLUMNS} FROM outbox_events WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?",
            [*params, max(1, min(limit, MAX_PAGE))])
        return [_event(row) for row in rows]

    async def get_outbox_event(self, event_id: str) -> OutboxEvent | None:
        row = await self._ex.read_one(f"SELECT {EVENT_COLUMNS} FROM outbox_events WHERE id = ?", (event_id,))
        return None if row is None else _event(row)

    # ------------------------------------------------------------------ syncs

    async def note_sync_window(self, sync_id: str, *, vendor: str, user_id: str, resource: str,
                               window_key: str, records: int = 0, failed: bool = False,
                               now: float | None = None) -> list[str]:
        """Count one finished window of a sync (once, however often it is noted) and, in the same
        transaction, write sync.progress and, when it was the resource's last, sync.completed.
        A cancelled sync's windows are counted without events (its cancellation ended each
        resource). Returns the event types written."""
        if not self._outbox_enabled:
            return []
        at = self._now(now)

        async def note(tx: Tx) -> list[str]:
            if not await tx.count(
                    insert("outbox_sync_windows", "sync_id, resource, window_key, user_id, records, failed")
                    + " ON CONFLICT (sync_id, resource, window_key) DO NOTHING",
                    (sync_id, resource, window_key, user_id, records, int(failed))):
                return []
            sync = await tx.one("SELECT detail, cancelled_at FROM syncs WHERE sync_id = ?", (sync_id,))
            if sync is not None and sync[1] is not None:
                return []
            planned = load_json(sync[0]).get("resources", {}).get(resource) if sync else None
            data = await _sync_report(tx, sync_id, vendor, user_id, resource, planned)
            written = ["sync.progress"]
            await add_event(tx, "sync.progress", data, user_id=user_id, origin="backfill", at=at)
            if isinstance(planned, int) and data["windows_done"] >= planned:
                await add_event(tx, "sync.completed", {**data, "cancelled": False}, user_id=user_id,
                                origin="backfill", at=at)
                written.append("sync.completed")
            return written

        return await self._ex.transaction(note)

    # ------------------------------------------------------------------ retention

    async def prune_outbox(self, *, older_than_s: float | None = None, now: float | None = None) -> dict[str, int]:
        """Drop finished deliveries and events older than `older_than_s` (the configured retention
        by default; an event with an open delivery stays), and the window counts of syncs not
        heard of since then (finished, or gone). `prune` calls it."""
        before = self._now(now) - (self._outbox_retention_s if older_than_s is None else older_than_s)

        async def prune(tx: Tx) -> dict[str, int]:
            deliveries = await tx.count("DELETE FROM outbound_deliveries WHERE state IN ('delivered', 'failed') "
                                        "AND updated_at < ?", (before,))
            events = await tx.count(
                "DELETE FROM outbox_events WHERE created_at < ? AND dispatched_at IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM outbound_deliveries d WHERE d.event_id = outbox_events.id)", (before,))
            windows = await tx.count(
                "DELETE FROM outbox_sync_windows WHERE NOT EXISTS (SELECT 1 FROM syncs s WHERE "
                "s.sync_id = outbox_sync_windows.sync_id AND s.updated_at >= ?)", (before,))
            return {"outbound_deliveries": deliveries, "outbox_events": events, "outbox_sync_windows": windows}

        return await self._ex.transaction(prune)
