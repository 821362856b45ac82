"""`SqlStore`: the whole port, its concerns put together on one executor, and what spans them
(liveness, erasure of a user's data, retention)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from engine.store.codec import dump_json, load_json, new_id
from engine.store.crypto import TokenCipher
from engine.store.sql.app_state import AppState
from engine.store.sql.archive import ERASURE_COLUMNS, RawArchive
from engine.store.sql.budgets import Budgets
from engine.store.sql.connections import Connections, OAuthStates
from engine.store.sql.dialect import Executor, Tx, chunks, insert
from engine.store.sql.identity import Identities
from engine.store.sql.ingest_tokens import IngestTokens
from engine.store.sql.jobs import Jobs
from engine.store.sql.merge_prefs import MergePriorities
from engine.store.sql.outbox import Outbox
from engine.store.sql.samples import Samples
from engine.store.sql.syncs import Syncs
from engine.store.sql.zones import Zones

# Tables whose rows name a user by a column: every table of the schema is looked up in the
# database's catalogue, so a table a later migration adds is erased with the rest. A vendor-scoped
# erasure (a disconnect) keeps the connection row (its tokens are purged) for history.
_USER_COLUMNS = ("user_id", "vendor_user_id")
_VENDOR_COLUMNS = ("vendor", "source")
_KEPT_ON_DISCONNECT = frozenset({"connections"})
# The outbox is erased by event (below), not by the catalogue: an event that carries no health
# data is still delivered after the erasure, so the customer hears that the connection ended.
_EVENT_TABLES = frozenset({"outbox_events", "outbound_deliveries"})
_DATA_FREE_EVENTS = frozenset({"connection.revoked"})
_TABLE_COLUMNS = {
    "sqlite": "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p "
              "WHERE m.type = 'table'",
    "postgresql": "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema()",
}


def _names_subject(payload: Any, subjects: frozenset[str]) -> bool:
    """Whether a JSON payload holds one of the ids as a value anywhere."""
    if isinstance(payload, str):
        return payload in subjects
    if isinstance(payload, dict):
        return any(_names_subject(v, subjects) for v in payload.values())
    if isinstance(payload, list):
        return any(_names_subject(v, subjects) for v in payload)
    return False


class SqlStore(Connections, OAuthStates, Jobs, Budgets, Samples, Syncs, AppState, RawArchive,
               Outbox, Zones, Identities, IngestTokens, MergePriorities):
    """The whole store: every concern on one executor, and what spans them (liveness, closing,
    retention and erasure)."""

    def __init__(self, executor: Executor, cipher: TokenCipher,
                 clock: Callable[[], float] = time.time) -> None:
        self._ex = executor
        self._cipher = cipher
        self._clock = clock
        self._lock_waiters: dict[str, asyncio.Lock] = {}
        self._lock_users: dict[str, int] = {}

    @property
    def executor(self) -> Executor:
        return self._ex

    async def ping(self) -> None:
        """Raise `StoreUnavailable` if the database cannot answer a trivial query."""
        await self._ex.read_one("SELECT 1")

    async def close(self) -> None:
        await self._ex.close()

    async def _user_tables(self) -> list[tuple[str, frozenset[str]]]:
        rows = await self._ex.read_all(_TABLE_COLUMNS[self._ex.dialect.name])
        columns: dict[str, set[str]] = {}
        for table, column in rows:
            columns.setdefault(table, set()).add(column)
        return sorted((table, frozenset(names)) for table, names in columns.items()
                      if names.intersection(_USER_COLUMNS))

    async def delete_user_data(
        self, user_id: str, *, vendor: str | None = None, reason: str = "user_deleted",
        now: float | None = None,
    ) -> dict[str, int]:
        """Remove every row that names the app user or a vendor account linked to them, in every
        table (raw archive, inbox payloads, queued jobs, samples, tokens, …), and record an
        `Erasure` naming the user only by a keyed hash. With `vendor`, only that vendor's data
        (a disconnect: the connection row stays, its tokens already purged). Rows per table."""
        at = self._now(now)
        tables = await self._user_tables()
        subject = self._cipher.keyed_hash(user_id, purpose="erasure")

        async def delete(tx: Tx) -> dict[str, int]:
            sql = "SELECT vendor, vendor_user_id FROM connections WHERE user_id = ? AND vendor_user_id IS NOT NULL"
            linked = await tx.all(sql + (" AND vendor = ?" if vendor else ""),
                                  (user_id, vendor) if vendor else (user_id,))
            counts = {"jobs": await _delete_jobs_naming(tx, user_id, linked),
                      **await _delete_events_naming(tx, user_id, vendor)}
            for table, columns in tables:
                if table in _EVENT_TABLES or (vendor is not None and table in _KEPT_ON_DISCONNECT):
                    continue
                scope = next((c for c in _VENDOR_COLUMNS if c in columns), None)
                if vendor is not None and scope is None:
                    continue
                tail, scoped = (f" AND {scope} = ?", (vendor,)) if vendor is not None else ("", ())
                removed = 0
                if "user_id" in columns:
                    removed += await tx.count(f"DELETE FROM {table} WHERE user_id = ?{tail}",
                                              (user_id, *scoped))
                if "vendor_user_id" in columns and "vendor" in columns:
                    for linked_vendor, vendor_user_id in linked:
                        removed += await tx.count(
                            f"DELETE FROM {table} WHERE vendor = ? AND vendor_user_id = ?",
                            (linked_vendor, vendor_user_id))
                counts[table] = counts.get(table, 0) + removed
            await tx.count(insert("erasures", ERASURE_COLUMNS),
                           (new_id(at), subject, reason, vendor, dump_json(counts), at))
            return counts

        return await self._ex.transaction(delete)

    async def prune(
        self, *, inbox_older_than_s: float = 14 * 86400,
        finished_jobs_older_than_s: float = 7 * 86400, raw_older_than_s: float | None = None,
        now: float | None = None,
    ) -> dict[str, int]:
        """Delete expired oauth states, old inbox events, old done jobs and re-map runs, what the
        outbox keeps past its retention (`prune_outbox`), and with `raw_older_than_s` archived
        raw records older than that."""
        at = self._now(now)
        raw = {} if raw_older_than_s is None else {
            "raw_records": await self.prune_raw(older_than_s=raw_older_than_s, now=at)}

        async def prune(tx: Tx) -> dict[str, int]:
            return {
                "oauth_states": await tx.count(
                    "DELETE FROM oauth_states WHERE expires_at <= ?", (at,)),
                "inbox_events": await tx.count(
                    "DELETE FROM inbox_events WHERE received_at < ?", (at - inbox_older_than_s,)),
                "jobs": await tx.count("DELETE FROM jobs WHERE state = 'done' AND updated_at < ?",
                                       (at - finished_jobs_older_than_s,)),
                "locks": await tx.count("DELETE FROM locks WHERE expires_at < ?", (at,)),
                "finished_remaps": await tx.count(
                    "DELETE FROM remap_runs WHERE state = 'done' AND updated_at < ?",
                    (at - finished_jobs_older_than_s,)),
            }

        return {**await self._ex.transaction(prune), **await self.prune_outbox(now=at), **raw}


async def _delete_events_naming(tx: Tx, user_id: str, vendor: str | None) -> dict[str, int]:
    """The user's outbound events (with `vendor`, those about that vendor's data) and their
    deliveries, but for the data-free ones."""
    rows = await tx.all("SELECT id, event_type, payload FROM outbox_events WHERE user_id = ?", (user_id,))
    doomed = [event_id for event_id, event_type, payload in rows if event_type not in _DATA_FREE_EVENTS
              and (vendor is None or _about_vendor(load_json(payload), vendor))]
    counts = {"outbox_events": 0, "outbound_deliveries": 0}
    for part in chunks(doomed):
        ids, params = tx.dialect.any_of("event_id", part)
        counts["outbound_deliveries"] += await tx.count(f"DELETE FROM outbound_deliveries WHERE {ids}", params)
        ids, params = tx.dialect.any_of("id", part)
        counts["outbox_events"] += await tx.count(f"DELETE FROM outbox_events WHERE {ids}", params)
    return counts


def _about_vendor(payload: Any, vendor: str) -> bool:
    return isinstance(payload, dict) and vendor in (payload.get("source"), payload.get("vendor"))


async def _delete_jobs_naming(tx: Tx, user_id: str, linked: Sequence[tuple[str, str]]) -> int:
    """Jobs that carry no user_id column value but name the user in their payload (an event
    known only by the vendor's user id)."""
    subjects = frozenset([user_id, *(vendor_user_id for _, vendor_user_id in linked)])
    vendors = sorted({v for v, _ in linked})
    if not vendors:
        return 0
    clause, params = tx.dialect.any_of("vendor", vendors)
    rows = await tx.all(f"SELECT id, payload FROM jobs WHERE user_id IS NULL AND {clause}", params)
    doomed = [job_id for job_id, payload in rows if _names_subject(load_json(payload), subjects)]
    removed = 0
    for part in chunks(doomed):
        ids, id_params = tx.dialect.any_of("id", part)
        removed += await tx.count(f"DELETE FROM jobs WHERE {ids}", id_params)
    return removed
