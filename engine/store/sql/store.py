"""`SqlStore`: the whole port, its concerns put together on one executor, and what spans them
(liveness, erasure of a user's data, retention)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from engine.store.crypto import TokenCipher
from engine.store.port import Housekeeping
from engine.store.sql.app_state import AppState
from engine.store.sql.budgets import Budgets
from engine.store.sql.connections import Connections, OAuthStates
from engine.store.sql.dialect import Executor, Tx
from engine.store.sql.jobs import Jobs
from engine.store.sql.outbox import Outbox
from engine.store.sql.samples import Samples
from engine.store.sql.syncs import Syncs

_USER_TABLES = ("connections", "oauth_states", "cursors", "samples", "jobs", "syncs",
                "awaited_windows")


class SqlStore(Connections, OAuthStates, Jobs, Budgets, Samples, Syncs, AppState, Outbox, Housekeeping):
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
        await self._ex.read_one("SELECT 1")

    async def close(self) -> None:
        await self._ex.close()

    async def delete_user_data(self, user_id: str) -> dict[str, int]:
        async def delete(tx: Tx) -> dict[str, int]:
            linked = await tx.all("SELECT vendor, vendor_user_id FROM connections "
                                  "WHERE user_id = ? AND vendor_user_id IS NOT NULL", (user_id,))
            events = await tx.count("DELETE FROM inbox_events WHERE user_id = ?", (user_id,))
            for vendor, vendor_user_id in linked:
                events += await tx.count(
                    "DELETE FROM inbox_events WHERE vendor = ? AND vendor_user_id = ?",
                    (vendor, vendor_user_id))
            counts = {"inbox_events": events}
            for table in _USER_TABLES:
                counts[table] = await tx.count(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
            return counts

        return await self._ex.transaction(delete)

    async def prune(
        self, *, inbox_older_than_s: float = 14 * 86400,
        finished_jobs_older_than_s: float = 7 * 86400, now: float | None = None,
    ) -> dict[str, int]:
        at = self._now(now)

        async def prune(tx: Tx) -> dict[str, int]:
            return {
                "oauth_states": await tx.count(
                    "DELETE FROM oauth_states WHERE expires_at <= ?", (at,)),
                "inbox_events": await tx.count(
                    "DELETE FROM inbox_events WHERE received_at < ?", (at - inbox_older_than_s,)),
                "jobs": await tx.count("DELETE FROM jobs WHERE state = 'done' AND updated_at < ?",
                                       (at - finished_jobs_older_than_s,)),
                "locks": await tx.count("DELETE FROM locks WHERE expires_at < ?", (at,)),
            }

        return await self._ex.transaction(prune)
