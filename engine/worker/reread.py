"""A re-read that replaces: the vendor's current version of each record it returns is the truth
about which samples that record yields.

A corrected mapping (a local time now converted with the user's zone, a record type that now
yields nothing, a value that is no longer a sample) writes the right samples on the next read, but
samples stored under the old mapping keep their own dedup keys and would stay beside them. With
`replace`, once a window has been read and stored completely, every live sample of a record the
window returned, of that resource, that the record no longer maps to is marked removed by the
mapping. Records the window did not return, other resources and records without an id are left
alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.archive.keeping import ResourceArchiver
from engine.store.port import SampleRecord, Store


@dataclass(slots=True)
class Reread:
    """What one window read: the ids of its records and the samples they map to now."""

    record_ids: set[str] = field(default_factory=set)
    kept: set[tuple[str, str]] = field(default_factory=set)

    def add(self, archiver: ResourceArchiver, records: Iterable[Any], rows: Iterable[SampleRecord]) -> None:
        for record in records:
            key = archiver.record_key(record, b"")
            if key.startswith("id:"):  # a record known by its content alone has no older version
                self.record_ids.add(key[3:])
        for row in rows:
            self.kept.add((row.sample_type, row.dedup_id))
            if row.vendor_record_id is not None:
                self.record_ids.add(row.vendor_record_id)

    async def replace(self, store: Store, vendor: str, user_id: str, resource: str) -> int:
        """Mark removed what the records read no longer yield; how many samples."""
        if not self.record_ids:
            return 0
        return await store.tombstone_unproduced(vendor, user_id, resource, self.record_ids, self.kept)
