"""Syncs, pull cursors and history windows awaiting delivery by push."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engine.store.codec import dump_json, from_micros, load_json, new_id, to_micros
from engine.store.records import AwaitedWindow, Sync, sync_job_key_prefix
from engine.store.sql.dialect import Concern, Tx, decoder, insert, record_columns, upsert, where
from engine.store.sql.outbox import ReportsChanges, report_sync_cancelled

SYNC_COLUMNS = record_columns(Sync)
AWAITED_COLUMNS = record_columns(AwaitedWindow, start="start_us", end="end_us")
_sync = decoder(Sync, detail=load_json)
_awaited = decoder(AwaitedWindow, start=from_micros, end=from_micros)


class Syncs(ReportsChanges, Concern):
    """Syncs, pull cursors and history windows awaiting delivery by push."""

    async def create_sync(
        self, sync_id: str, vendor: str, user_id: str, *, windows_total: int = 0,
        clipped_note: str | None = None, detail: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> Sync:
        at = self._now(now)
        rows = await self._ex.write_returning(
            insert("syncs", SYNC_COLUMNS) + f" RETURNING {SYNC_COLUMNS}",
            (sync_id, vendor, user_id, windows_total, 0, 0, 0, clipped_note, None,
             dump_json(dict(detail or {})), at, at, 0, None))
        return _sync(rows[0])

    async def update_sync(
        self, sync_id: str, *, add_windows_total: int = 0, add_windows_done: int = 0,
        add_records: int = 0, add_errors: int = 0, last_error: str | None = None,
        now: float | None = None,
    ) -> Sync | None:
        """Atomic increments; returns the updated sync or None if unknown."""
        rows = await self._ex.write_returning(
            "UPDATE syncs SET windows_total = windows_total + ?, "
            "windows_done = windows_done + ?, records = records + ?, errors = errors + ?, "
            "last_error = COALESCE(?, last_error), updated_at = ? WHERE sync_id = ? "
            f"RETURNING {SYNC_COLUMNS}",
            (add_windows_total, add_windows_done, add_records, add_errors, last_error,
             self._now(now), sync_id))
        return _sync(rows[0]) if rows else None

    async def get_sync(self, sync_id: str) -> Sync | None:
        row = await self._ex.read_one(f"SELECT {SYNC_COLUMNS} FROM syncs WHERE sync_id = ?",
                                      (sync_id,))
        return None if row is None else _sync(row)

    async def cancel_sync(self, sync_id: str, *, now: float | None = None) -> Sync | None:
        """In one transaction: remove the sync's queued windows (running ones finish), count them
        as cancelled and stamp `cancelled_at` (kept from the first cancel). None if unknown."""
        at = self._now(now)
        prefix = sync_job_key_prefix(sync_id)

        async def cancel(tx: Tx) -> Sync | None:
            removed = await tx.count(
                "DELETE FROM jobs WHERE state = 'queued' AND substr(idempotency_key, 1, ?) = ?",
                (len(prefix), prefix))
            removed += await tx.count("DELETE FROM awaited_windows WHERE sync_id = ?", (sync_id,))
            if self._outbox_enabled:  # each unfinished resource ends with sync.completed, cancelled
                await report_sync_cancelled(tx, sync_id, at=at)
            row = await tx.one(
                "UPDATE syncs SET windows_cancelled = windows_cancelled + ?, "
                "cancelled_at = COALESCE(cancelled_at, ?), updated_at = ? WHERE sync_id = ? "
                f"RETURNING {SYNC_COLUMNS}", (removed, at, at, sync_id))
            return None if row is None else _sync(row)

        return await self._ex.transaction(cancel)

    # ---- cursors
    async def get_cursor(self, vendor: str, user_id: str, resource: str) -> str | None:
        row = await self._ex.read_one(
            "SELECT value FROM cursors WHERE vendor = ? AND user_id = ? AND resource = ?",
            (vendor, user_id, resource))
        return None if row is None else row[0]

    async def set_cursor(
        self, vendor: str, user_id: str, resource: str, value: str, *, now: float | None = None
    ) -> None:
        await self._ex.write(
            upsert("cursors", "vendor, user_id, resource, value, updated_at",
                   "vendor, user_id, resource"),
            (vendor, user_id, resource, value, self._now(now)))

    # ---- windows awaiting delivery by push
    async def add_awaited_window(
        self, vendor: str, user_id: str, resource: str, *, start: datetime, end: datetime,
        sync_id: str | None = None, now: float | None = None,
    ) -> AwaitedWindow:
        at = self._now(now)
        rows = await self._ex.write_returning(
            insert("awaited_windows", AWAITED_COLUMNS) + f" RETURNING {AWAITED_COLUMNS}",
            (new_id(at), sync_id, vendor, user_id, resource, to_micros(start), to_micros(end), at))
        return _awaited(rows[0])

    async def complete_awaited_windows(
        self, vendor: str, user_id: str, resource: str, *, start: datetime, end: datetime
    ) -> list[AwaitedWindow]:
        """Remove and return the awaited windows of that resource overlapping [start, end]
        (atomically, so each window is completed once however many deliveries race)."""
        rows = await self._ex.write_returning(
            "DELETE FROM awaited_windows WHERE vendor = ? AND user_id = ? AND resource = ? "
            f"AND start_us <= ? AND end_us >= ? RETURNING {AWAITED_COLUMNS}",
            (vendor, user_id, resource, to_micros(end), to_micros(start)))
        return [_awaited(row) for row in rows]

    async def expire_awaited_windows(
        self, *, older_than_s: float, now: float | None = None
    ) -> list[AwaitedWindow]:
        """Remove and return windows requested more than `older_than_s` ago."""
        rows = await self._ex.write_returning(
            f"DELETE FROM awaited_windows WHERE requested_at < ? RETURNING {AWAITED_COLUMNS}",
            (self._now(now) - older_than_s,))
        return [_awaited(row) for row in rows]

    async def list_awaited_windows(
        self, *, sync_id: str | None = None, vendor: str | None = None, user_id: str | None = None
    ) -> list[AwaitedWindow]:
        filters, params = where(("sync_id = ?", sync_id), ("vendor = ?", vendor),
                                ("user_id = ?", user_id))
        rows = await self._ex.read_all(
            f"SELECT {AWAITED_COLUMNS} FROM awaited_windows {filters}ORDER BY start_us, id", params)
        return [_awaited(row) for row in rows]
