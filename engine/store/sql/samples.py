"""Normalized samples: multi-row upserts, tombstones and keyset pages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from engine.store.codec import (
    decode_sample_cursor,
    encode_sample_cursor,
    from_micros,
    new_seqs,
    to_micros,
)
from engine.store.records import (
    REMOVED_BY_MAPPING,
    SamplePage,
    SampleProvenance,
    SampleRecord,
    StoredSample,
    UpsertResult,
)
from engine.store.sample_payload import pack, unpack
from engine.store.sql.dialect import MAX_PAGE, Concern, Row, where
from engine.store.sql.outbox import ReportsChanges
from engine.store.sql.sample_changes import tombstone_reporting_changes, upsert_reporting_changes
from engine.store.sql.sample_table import KEY, PAGE_ORDER, SAMPLE_COLUMNS, SEQ

_NO_PROVENANCE = SampleProvenance()
_UPSERT = (
    " ON CONFLICT (user_id, source, sample_type, dedup_id) DO UPDATE SET revision = samples.revision + 1, "
    "timestamp_us = excluded.timestamp_us, end_us = excluded.end_us, deleted = excluded.deleted, "
    "vendor_updated_us = COALESCE(excluded.vendor_updated_us, samples.vendor_updated_us), "
    "resource = excluded.resource, vendor_record_id = excluded.vendor_record_id, "
    "payload = excluded.payload, stored_at = excluded.stored_at, channel = excluded.channel, "
    "spec_version = excluded.spec_version, mapping_hash = excluded.mapping_hash, "
    "raw_key = excluded.raw_key, raw_id = excluded.raw_id "
    # Latest vendor version wins; a version-less write never resurrects a vendor's tombstone
    # (a sample a re-map removed comes back when a mapping produces it again).
    "WHERE samples.vendor_updated_us IS NULL "
    "OR excluded.vendor_updated_us >= samples.vendor_updated_us "
    "OR (excluded.vendor_updated_us IS NULL AND samples.deleted <> 1)"
)


def sample_rows(samples: Sequence[SampleRecord], at: float) -> list[Row]:
    """The rows (in SAMPLE_COLUMNS order) of a page of samples, payloads packed."""
    rows = []
    for s, seq in zip(samples, new_seqs(at, len(samples)), strict=True):
        leading = (
            s.user_id, s.source, s.sample_type, s.dedup_id, to_micros(s.timestamp_utc),
            None if s.end_utc is None else to_micros(s.end_utc), int(s.deleted),
            None if s.vendor_updated_at is None else to_micros(s.vendor_updated_at),
            s.resource, s.vendor_record_id,
        )
        rows.append((*leading, pack(s.payload, leading), at, *_provenance_values(s.provenance or _NO_PROVENANCE),
                     seq))
    return rows


def rows_in_lock_order(samples: Sequence[SampleRecord], at: float, *, row_locks: bool) -> tuple[list[Row], list[Any]]:
    """`sample_rows` and the payloads they were packed from, in one order: by key where writers
    lock rows (concurrent batches then lock in one order and cannot deadlock)."""
    rows, documents = sample_rows(samples, at), [s.payload for s in samples]
    if row_locks:
        order = sorted(range(len(rows)), key=lambda i: rows[i][KEY])
        rows, documents = [rows[i] for i in order], [documents[i] for i in order]
    return rows, documents


def _page_query(user_id: str, types: Sequence[str], clauses: list[str], params: list[Any],
                rows: int) -> tuple[str, list[Any]]:
    """The first `rows` samples of the user in page order, of `types` (all without), that meet
    `clauses`. Several types are one range of the (user, type, time) key each, merged: one
    statement over all of them would walk the (user, time) index through every other type's
    samples in between (two rare types among a month of minute heart rate: 110 ms, not 2.4)."""
    tail = "".join(f" AND {clause}" for clause in clauses)
    if len(types) <= 1:
        head = "user_id = ?" + (" AND sample_type = ?" if types else "")
        return (f"SELECT {SAMPLE_COLUMNS} FROM samples WHERE {head}{tail} ORDER BY {PAGE_ORDER} LIMIT ?",
                [user_id, *types, *params, rows])
    member = (f"SELECT * FROM (SELECT {SAMPLE_COLUMNS} FROM samples WHERE user_id = ? AND sample_type = ?"
              f"{tail} ORDER BY {PAGE_ORDER} LIMIT ?) AS one_type")
    merged = " UNION ALL ".join([member] * len(types))
    return (f"SELECT * FROM ({merged}) AS page ORDER BY {PAGE_ORDER} LIMIT ?",
            [*(value for sample_type in types for value in (user_id, sample_type, *params, rows)), rows])


def _provenance_values(p: SampleProvenance) -> tuple[Any, ...]:
    return p.channel, p.spec_version, p.mapping_hash, p.raw_key, p.raw_id



def stored_sample(row: Row) -> StoredSample:
    """A row in SAMPLE_COLUMNS order."""
    payload = unpack(row[10], row)
    deleted = bool(row[6])
    if isinstance(payload, dict):
        payload["deleted"] = deleted
    return StoredSample(
        row[0], row[1], row[2], row[3], from_micros(row[4]),
        None if row[5] is None else from_micros(row[5]), deleted,
        None if row[7] is None else from_micros(row[7]), row[8], row[9], payload, row[11],
        SampleProvenance(*row[12:17]), row[6] == REMOVED_BY_MAPPING,
    )  # fmt: skip


class Samples(ReportsChanges, Concern):
    """Normalized samples."""

    async def upsert_samples(
        self, samples: Sequence[SampleRecord], *, now: float | None = None, origin: str | None = None
    ) -> UpsertResult:
        """Idempotent on (user_id, source, sample_type, dedup_id); a row is replaced unless the
        stored vendor_updated_at is newer than the incoming one. One transaction, which also
        writes a samples.changed event per (user, source, type) that changed (`origin`: live,
        backfill or remap; None takes each sample's from its provenance channel)."""
        at = self._now(now)
        rows, documents = rows_in_lock_order(samples, at, row_locks=self._ex.dialect.row_locks)
        if not rows:
            return UpsertResult(written=0, skipped=0)
        if self._outbox_enabled:
            written = await self._ex.transaction(lambda tx: upsert_reporting_changes(
                tx, SAMPLE_COLUMNS, rows, _UPSERT, origin=origin, at=at, inline=self._inline_samples,
                documents=documents))
        else:
            written = await self._ex.transaction(
                lambda tx: tx.insert_many("samples", SAMPLE_COLUMNS, rows, _UPSERT))
        return UpsertResult(written=written, skipped=len(rows) - written)

    async def tombstone_samples(
        self, user_id: str, source: str, *, vendor_record_id: str, resource: str | None = None,
        deleted_at: datetime | None = None, now: float | None = None, origin: str = "live",
    ) -> int:
        """Mark every sample of that vendor record deleted (newer stored versions are kept).
        `deleted_at` becomes their vendor version so an older re-fetch cannot resurrect them.
        Returns the number of samples marked."""
        at = self._now(now)
        version = to_micros(deleted_at) if deleted_at is not None else int(at * 1_000_000)
        sql = (
            "UPDATE samples SET deleted = 1, stored_at = ?, vendor_updated_us = CASE "
            "WHEN vendor_updated_us IS NULL OR vendor_updated_us < ? THEN ? "
            "ELSE vendor_updated_us END WHERE user_id = ? AND source = ? AND vendor_record_id = ? "
            "AND (vendor_updated_us IS NULL OR vendor_updated_us <= ?)"
        )
        params: list[Any] = [at, version, version, user_id, source, vendor_record_id, version]
        if resource is not None:
            sql += " AND resource = ?"
            params.append(resource)
        return await self._tombstone(sql, params, origin, at)

    async def tombstone_samples_in_window(
        self, user_id: str, source: str, resource: str, start: datetime, end: datetime, *,
        stored_before: float | None = None, now: float | None = None, origin: str = "live",
    ) -> int:
        """Mark deleted every sample of `resource` whose timestamp_utc is in [start, end), for a
        vendor that reports deletions as time ranges rather than record ids. Vendor versions are
        left as they are, so a re-read of the range brings back whatever the vendor still holds.
        With `stored_before`, samples written at or after that instant (a re-read that already
        ran) are kept. Returns the number of samples marked."""
        sql = (
            "UPDATE samples SET deleted = 1, stored_at = ? "
            "WHERE user_id = ? AND source = ? AND resource = ? AND deleted = 0 "
            "AND timestamp_us >= ? AND timestamp_us < ?"
        )
        at = self._now(now)
        params: list[Any] = [at, user_id, source, resource, to_micros(start), to_micros(end)]
        if stored_before is not None:
            sql += " AND stored_at < ?"
            params.append(stored_before)
        return await self._tombstone(sql, params, origin, at)

    async def _tombstone(self, sql: str, params: list[Any], origin: str, at: float) -> int:
        if not self._outbox_enabled:
            return await self._ex.write(sql, params)
        return await self._ex.transaction(lambda tx: tombstone_reporting_changes(
            tx, sql, params, origin=origin, at=at, inline=self._inline_samples))

    async def count_samples(self, *, user_id: str | None = None) -> int:
        """Live (not deleted) samples, of one app user or of all."""
        filters, params = where(("user_id = ?", user_id), ("deleted = ?", 0))
        row = await self._ex.read_one(f"SELECT COUNT(*) FROM samples {filters}", params)
        return int(row[0]) if row else 0

    async def list_samples(
        self, user_id: str, *, sample_types: Sequence[str] | None = None,
        source: str | None = None, since: datetime | None = None, until: datetime | None = None,
        include_deleted: bool = True, limit: int = 100, cursor: str | None = None,
    ) -> SamplePage:
        """Samples ordered by (timestamp_utc, stable tie-break), since <= t < until. `cursor` is
        the previous page's next_cursor (`InvalidCursor` if malformed)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        limit = min(limit, MAX_PAGE)
        clauses: list[str] = []
        params: list[Any] = []
        after = None if cursor is None else decode_sample_cursor(cursor)
        lowest = None if since is None else to_micros(since)
        if after is not None:  # the page starts at the cursor's time: the index is entered there
            lowest = after[0] if lowest is None else max(lowest, after[0])
        for clause, value in (("source = ?", source), ("timestamp_us >= ?", lowest),
                              ("timestamp_us < ?", None if until is None else to_micros(until))):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if not include_deleted:
            clauses.append("deleted = 0")
        if after is not None:
            clauses.append(f"({PAGE_ORDER}) > (?, ?, ?)")
            params.extend(after)
        types = list(dict.fromkeys(sample_types or ()))  # a type named twice is read once
        rows = await self._ex.read_all(*_page_query(user_id, types, clauses, params, limit + 1))
        next_cursor = None
        if len(rows) > limit:  # the extra row asked for: there is more
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_sample_cursor(last[4], last[2], last[SEQ])
        return SamplePage(samples=[stored_sample(row) for row in rows], next_cursor=next_cursor)
