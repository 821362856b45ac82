"""Rate budgets (GCRA rows every process books from) and single-flight locks (lease rows)."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from itertools import chain

from engine.store import gcra
from engine.store.errors import LockTimeout
from engine.store.records import BudgetGrant, BudgetRequest, BudgetState, Lease, refresh_lock_name
from engine.store.sql.dialect import Concern, Tx, insert, record_columns, upsert

BUDGET_COLUMNS = record_columns(BudgetState, key="budget_key")
_WRITE_BUDGET = upsert("budgets", BUDGET_COLUMNS, "budget_key")


class _NotGranted(Exception):
    def __init__(self, wait_s: float) -> None:
        super().__init__(f"budget wait {wait_s:.3f}s exceeds the limit")
        self.wait_s = wait_s


async def _lock_budgets(tx: Tx, keys: Sequence[str]) -> dict[str, gcra.BudgetRow | None]:
    """The stored rows of `keys` (sorted). With row locks they are locked in key order, new keys
    getting a placeholder row first so there is a row to lock: a placeholder has tat 0, which
    the GCRA step reads exactly like a missing row."""
    if tx.dialect.row_locks:
        await tx.count(
            insert("budgets", BUDGET_COLUMNS, len(keys)) + " ON CONFLICT (budget_key) DO NOTHING",
            list(chain.from_iterable((key, 0, 0, 0, 0, 0) for key in keys)))
    condition, params = tx.dialect.any_of("budget_key", keys)
    rows = await tx.all("SELECT budget_key, tat, emission_s, tau_s, blocked_until FROM budgets "
                        f"WHERE {condition} ORDER BY budget_key{tx.dialect.for_update}", params)
    stored = dict.fromkeys(keys)
    for key, tat, emission, tau, blocked in rows:
        if tat != 0 or blocked != 0:
            stored[key] = gcra.BudgetRow(tat, emission, tau, blocked)
    return stored


async def _write_budget(tx: Tx, key: str, row: gcra.BudgetRow, at: float) -> None:
    await tx.count(_WRITE_BUDGET, (key, row.tat, row.emission_s, row.tau_s, row.blocked_until, at))


class Budgets(Concern):
    """Rate budgets and single-flight locks (lease rows shared by every process on the store)."""

    _lock_waiters: dict[str, asyncio.Lock]  # waiters in this process queue locally, so only
    _lock_users: dict[str, int]  # one of them polls the database

    async def acquire_budget(
        self, requests: Sequence[BudgetRequest], *, max_wait_s: float = float("inf"),
        now: float | None = None,
    ) -> BudgetGrant:
        """Reserve one slot in every listed budget at once (all or none), atomically across
        processes. The grant's wait is the latest of the budgets' waits."""
        for request in requests:
            gcra.validate(request)
        if not requests:
            return BudgetGrant(granted=True, wait_s=0.0)
        keys = sorted({request.key for request in requests})

        async def reserve(tx: Tx) -> BudgetGrant:
            pending = await _lock_budgets(tx, keys)
            at = self._now(now)  # read while holding the rows: grants are ordered by time
            wait = 0.0
            for request in requests:
                reservation = gcra.reserve(request, pending[request.key], at)
                wait = max(wait, reservation.wait_s)
                pending[request.key] = reservation.row
            if wait > max_wait_s:
                if tx.dialect.row_locks:
                    raise _NotGranted(wait)  # rolls back the placeholder rows
                return BudgetGrant(granted=False, wait_s=wait)
            for key, row in pending.items():
                assert row is not None
                await _write_budget(tx, key, row, at)
            return BudgetGrant(granted=True, wait_s=wait)

        try:
            return await self._ex.transaction(reserve)
        except _NotGranted as refused:
            return BudgetGrant(granted=False, wait_s=refused.wait_s)

    async def penalize_budget(self, key: str, until: float, *, now: float | None = None) -> None:
        """No slot of `key` before `until` (Retry-After / rate-limit reset feedback)."""
        at = self._now(now)

        async def penalize(tx: Tx) -> None:
            stored = await _lock_budgets(tx, [key])
            await _write_budget(tx, key, gcra.penalize(stored[key], until), at)

        await self._ex.transaction(penalize)

    async def get_budget(self, key: str) -> BudgetState | None:
        row = await self._ex.read_one(
            f"SELECT {BUDGET_COLUMNS} FROM budgets WHERE budget_key = ?", (key,))
        return None if row is None else BudgetState(*row)

    async def list_budgets(self, prefix: str = "") -> list[BudgetState]:
        rows = await self._ex.read_all(
            f"SELECT {BUDGET_COLUMNS} FROM budgets WHERE substr(budget_key, 1, length(?)) = ? "
            "ORDER BY budget_key", (prefix, prefix))
        return [BudgetState(*row) for row in rows]

    # ---- single-flight locks
    async def _lock_try_acquire(self, name: str, owner: str, ttl_s: float) -> float | None:
        """Take the lease if free or expired: its expiry, or None while someone else holds it."""
        at = self._clock()
        rows = await self._ex.write_returning(
            upsert("locks", "name, owner, expires_at", "name")
            + " WHERE locks.expires_at <= ? OR locks.owner = excluded.owner RETURNING expires_at",
            (name, owner, at + ttl_s, at))
        return rows[0][0] if rows else None

    async def _lock_extend(self, name: str, owner: str, ttl_s: float) -> float | None:
        rows = await self._ex.write_returning(
            "UPDATE locks SET expires_at = ? WHERE name = ? AND owner = ? RETURNING expires_at",
            (self._clock() + ttl_s, name, owner))
        return rows[0][0] if rows else None

    async def _lock_release(self, name: str, owner: str) -> None:
        await self._ex.write("DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner))

    @asynccontextmanager
    async def lock(
        self, name: str, *, ttl_s: float = 30.0, wait_s: float = 30.0
    ) -> AsyncIterator[Lease]:
        """Hold the named lease across every process sharing this store. Waits up to `wait_s`
        (then `LockTimeout`). The lease lapses after `ttl_s` unless extended with `extend_lock`.
        Callers of refresh-like work must re-read state after acquiring: the previous holder may
        already have done the work."""
        local = self._lock_waiters.setdefault(name, asyncio.Lock())
        self._lock_users[name] = self._lock_users.get(name, 0) + 1
        try:
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
            self._lock_users[name] -= 1
            if self._lock_users[name] == 0:
                del self._lock_users[name]
                self._lock_waiters.pop(name, None)

    def refresh_lock(
        self, vendor: str, user_id: str, *, ttl_s: float = 30.0, wait_s: float = 30.0
    ) -> AbstractAsyncContextManager[Lease]:
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
