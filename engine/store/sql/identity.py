"""Record identity repairs: samples stored under an identity the spec has since replaced, and
samples a record no longer maps to when the vendor's current version of it is read again."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from engine.store.codec import to_micros
from engine.store.records import REMOVED_BY_MAPPING, SampleRecord
from engine.store.sql.dialect import Concern, Tx
from engine.store.sql.outbox import ReportsChanges
from engine.store.sql.sample_changes import tombstone_reporting_changes

_SUPERSEDED = (
    "UPDATE samples SET deleted = 1, stored_at = ? WHERE user_id = ? AND source = ? "
    "AND sample_type = ? AND resource = ? AND timestamp_us = ? AND dedup_id <> ? AND deleted = 0 "
    "AND (vendor_record_id IS NULL OR vendor_record_id <> ?)"
)
_OF_RECORDS = (
    "SELECT sample_type, dedup_id FROM samples WHERE user_id = ? AND source = ? AND resource = ? "
    "AND deleted = 0 AND vendor_record_id IN ({marks})"
)
_UNPRODUCED = (
    "UPDATE samples SET deleted = ?, stored_at = ? WHERE user_id = ? AND source = ? "
    "AND sample_type = ? AND dedup_id = ? AND deleted = 0"
)
_IDS_PER_QUERY = 500


class Identities(ReportsChanges, Concern):
    """Repairs of record identity: samples stored under an identity a spec has replaced."""

    async def tombstone_superseded(
        self, samples: Sequence[SampleRecord], *, now: float | None = None
    ) -> int:
        """Tombstone every live sample of the same user, source, type and resource at the same
        start as one of `samples` but under another dedup key (a partial summary's id, an old
        mapping's id). Returns how many."""
        at = self._now(now)
        params = [(at, s.user_id, s.source, s.sample_type, s.resource, to_micros(s.timestamp_utc),
                   s.dedup_id, s.vendor_record_id or "") for s in samples if not s.deleted]
        if not params:
            return 0

        async def run(tx: Tx) -> int:
            total = 0
            for row in params:
                total += await tx.count(_SUPERSEDED, row)
            return total

        return await self._ex.transaction(run)

    async def tombstone_unproduced(
        self, source: str, user_id: str, resource: str, record_ids: Collection[str],
        kept: Collection[tuple[str, str]], *, now: float | None = None,
    ) -> int:
        """A re-read's repair: mark removed by the mapping (`deleted = 2`) every live sample of
        these vendor records of `resource` whose (sample type, dedup id) is not in `kept`, the
        samples the records' current versions map to. Samples of other records, resources or
        users are never touched. Returns how many."""
        at = self._now(now)
        ids = sorted(set(record_ids))
        keep = set(kept)
        reported, inline = self._outbox_enabled, self._inline_samples

        async def run(tx: Tx) -> int:
            gone: list[tuple[str, str]] = []
            for start in range(0, len(ids), _IDS_PER_QUERY):
                chunk = ids[start:start + _IDS_PER_QUERY]
                sql = _OF_RECORDS.format(marks=", ".join("?" * len(chunk)))
                rows = await tx.all(sql, (user_id, source, resource, *chunk))
                gone += [(str(t), str(d)) for t, d in rows if (t, d) not in keep]
            total = 0
            for sample_type, dedup_id in sorted(gone):
                params = (REMOVED_BY_MAPPING, at, user_id, source, sample_type, dedup_id)
                total += await (tombstone_reporting_changes(tx, _UNPRODUCED, params, origin="backfill", at=at,
                                                            inline=inline)
                                if reported else tx.count(_UNPRODUCED, params))
            return total

        return await self._ex.transaction(run) if ids else 0
