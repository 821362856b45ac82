"""Record identity repairs: samples stored under an identity the spec has since replaced."""

from __future__ import annotations

from collections.abc import Sequence

from engine.store.codec import to_micros
from engine.store.port import IdentityStore
from engine.store.records import SampleRecord
from engine.store.sql.dialect import Concern, Tx

_SUPERSEDED = (
    "UPDATE samples SET deleted = 1, stored_at = ? WHERE user_id = ? AND source = ? "
    "AND sample_type = ? AND resource = ? AND timestamp_us = ? AND dedup_id <> ? AND deleted = 0 "
    "AND (vendor_record_id IS NULL OR vendor_record_id <> ?)"
)


class Identities(Concern, IdentityStore):
    async def tombstone_superseded(
        self, samples: Sequence[SampleRecord], *, now: float | None = None
    ) -> int:
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
