"""The raw archive: record versions by content hash, their heads as a re-map reads them, the
samples mapped from them, re-map runs and the erasure audit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.store.codec import dump_json, load_json, new_id
from engine.store.records import (
    REMOVED_BY_MAPPING,
    Erasure,
    RawHead,
    RawVersion,
    RemapProgress,
    RemapRun,
    SampleRecord,
    StoredSample,
)
from engine.store.sql.dialect import (
    ROWS_PER_STATEMENT,
    Concern,
    Row,
    Tx,
    chunks,
    decoder,
    insert,
    record_columns,
)
from engine.store.sql.outbox import ReportsChanges
from engine.store.sql.sample_changes import tombstone_reporting_changes, upsert_reporting_changes
from engine.store.sql.samples import SAMPLE_COLUMNS, rows_in_lock_order, stored_sample

RAW_COLUMNS = ("id, raw_key, vendor, user_id, resource, record_key, content_hash, head, channel, "
               "trust, codec, body, arrived_at")
HEAD_COLUMNS = record_columns(RawHead)
RUN_COLUMNS = record_columns(RemapRun)
ERASURE_COLUMNS = record_columns(Erasure)
_run = decoder(RemapRun, scope=load_json, counts=load_json)
_erasure = decoder(Erasure, counts=load_json)
_head = decoder(RawHead, body=bytes)

# A re-mapped sample replaces the stored one unless the vendor tombstoned it at a newer version.
_REMAP_UPSERT = (
    " ON CONFLICT (user_id, source, sample_type, dedup_id) DO UPDATE SET revision = samples.revision + 1, "
    "timestamp_us = excluded.timestamp_us, end_us = excluded.end_us, deleted = excluded.deleted, "
    "vendor_updated_us = COALESCE(excluded.vendor_updated_us, samples.vendor_updated_us), "
    "resource = excluded.resource, vendor_record_id = excluded.vendor_record_id, "
    "payload = excluded.payload, stored_at = excluded.stored_at, channel = samples.channel, "
    "spec_version = excluded.spec_version, mapping_hash = excluded.mapping_hash, "
    "raw_key = excluded.raw_key, raw_id = excluded.raw_id "
    "WHERE samples.deleted <> 1 OR (excluded.vendor_updated_us IS NOT NULL "
    "AND samples.vendor_updated_us IS NOT NULL "
    "AND excluded.vendor_updated_us > samples.vendor_updated_us)"
)


class RawArchive(ReportsChanges, Concern):
    """Every distinct version of the vendor records the engine fetched or received from an
    authenticated delivery, and what re-deriving samples from them needs."""

    async def raw_head_ids(self, raw_keys: Sequence[str]) -> dict[str, str]:
        """The latest archived version id of each of these records that has one."""
        heads: dict[str, str] = {}
        for part in chunks(list(dict.fromkeys(raw_keys)), ROWS_PER_STATEMENT * 4):
            clause, params = self._ex.dialect.any_of("raw_key", part)
            rows = await self._ex.read_all(
                f"SELECT raw_key, id FROM raw_records WHERE {clause} AND head = 1", params)
            heads.update((key, version) for key, version in rows)
        return heads

    async def archive_raw(
        self, versions: Sequence[RawVersion], *, now: float | None = None
    ) -> int:
        """Keep each version as its record's latest (`head`). A version equal to the stored head
        costs one hash compare and no write; a version seen before becomes the head again. Returns
        the number of versions written."""
        if not versions:
            return 0
        heads = await self.raw_head_ids([v.raw_key for v in versions])
        latest: dict[str, RawVersion] = {}
        for version in versions:  # the last of a record's versions in one batch is its head
            latest[version.raw_key] = version
        changed = [v for v in latest.values() if heads.get(v.raw_key) != v.id]
        if not changed:
            return 0
        at = self._now(now)
        if self._ex.dialect.row_locks:
            changed.sort(key=lambda v: v.raw_key)

        async def write(tx: Tx) -> int:
            written = 0
            for part in chunks(changed):
                clause, params = tx.dialect.any_of("raw_key", [v.raw_key for v in part])
                await tx.count(f"UPDATE raw_records SET head = 0 WHERE {clause} AND head = 1", params)
                ids, id_params = tx.dialect.any_of("id", [v.id for v in part])
                seen = {row[0] for row in await tx.all(f"SELECT id FROM raw_records WHERE {ids}",
                                                       id_params)}
                for version in part:
                    if version.id in seen:  # a version seen before is the latest again
                        written += await tx.count(
                            "UPDATE raw_records SET head = 1, arrived_at = ?, channel = ?, trust = ? "
                            "WHERE id = ?", (at, version.channel, version.trust, version.id))
                rows: list[Row] = [
                    (v.id, v.raw_key, v.vendor, v.user_id, v.resource, v.record_key,
                     v.content_hash, 1, v.channel, v.trust, v.codec, v.body, at)
                    for v in part if v.id not in seen
                ]
                if rows:
                    written += await tx.insert_many("raw_records", RAW_COLUMNS, rows)
            return written

        return await self._ex.transaction(write)

    def _heads_where(self, vendor: str, user_id: str | None,
                     resources: Sequence[str] | None) -> tuple[list[str], list[Any]]:
        return self._scoped(["vendor = ?", "head = 1"], [vendor], user_id, resources)

    def _scoped(self, clauses: list[str], params: list[Any], user_id: str | None,
                resources: Sequence[str] | None) -> tuple[list[str], list[Any]]:
        """The clauses and parameters, narrowed to one user and some resources when given."""
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if resources:
            clause, values = self._ex.dialect.any_of("resource", resources)
            clauses.append(clause)
            params.extend(values)
        return clauses, params

    async def count_raw_heads(
        self, vendor: str, *, user_id: str | None = None, resources: Sequence[str] | None = None,
    ) -> int:
        clauses, params = self._heads_where(vendor, user_id, resources)
        row = await self._ex.read_one(
            f"SELECT COUNT(*) FROM raw_records WHERE {' AND '.join(clauses)}", params)
        return int(row[0]) if row else 0

    async def raw_heads(
        self, vendor: str, *, user_id: str | None = None, resources: Sequence[str] | None = None,
        after: tuple[str, str, str] | None = None, limit: int = 1000,
    ) -> list[RawHead]:
        """Latest versions ordered by (user_id, resource, record_key), after that triple."""
        clauses, params = self._heads_where(vendor, user_id, resources)
        if after is not None:
            clauses.append("(user_id, resource, record_key) > (?, ?, ?)")
            params.extend(after)
        rows = await self._ex.read_all(
            f"SELECT {HEAD_COLUMNS} FROM raw_records WHERE {' AND '.join(clauses)} "
            "ORDER BY user_id, resource, record_key LIMIT ?", [*params, limit])
        return [_head(row) for row in rows]

    async def samples_of_raw(
        self, source: str, records: Sequence[tuple[str, str]]
    ) -> list[StoredSample]:
        """Every stored sample mapped from one of these archived records, (user id, raw key)
        each, tombstones included."""
        by_user: dict[str, list[str]] = {}
        for user_id, raw_key in records:
            by_user.setdefault(user_id, []).append(raw_key)
        found: list[StoredSample] = []
        for user_id, raw_keys in by_user.items():
            for part in chunks(list(dict.fromkeys(raw_keys)), ROWS_PER_STATEMENT * 4):
                clause, params = self._ex.dialect.any_of("raw_key", part)
                rows = await self._ex.read_all(
                    f"SELECT {SAMPLE_COLUMNS} FROM samples WHERE user_id = ? AND {clause} AND source = ?",
                    [user_id, *params, source])
                found.extend(stored_sample(row) for row in rows)
        return found

    async def apply_remap(
        self, upserts: Sequence[SampleRecord], removed: Sequence[tuple[str, str, str, str]], *,
        restamped: Sequence[SampleRecord] = (), run: RemapProgress | None = None,
        now: float | None = None,
    ) -> int:
        """In one transaction: write the re-mapped samples (over anything but a vendor's own
        tombstone) and the `restamped` ones (same values, newer provenance), mark the (user_id,
        source, sample_type, dedup_id) samples the mapping no longer produces as removed by it
        (never a vendor tombstone), report the changes but restamps to the outbox with origin
        remap and, with `run`, move the re-map run to its new position, so a run killed at any
        instant resumes exactly after the last page it wrote. Returns rows changed."""
        at = self._now(now)
        rows, documents = rows_in_lock_order(upserts, at, row_locks=self._ex.dialect.row_locks)
        quiet, _ = rows_in_lock_order(restamped, at, row_locks=self._ex.dialect.row_locks)
        gone = sorted(removed)
        reported = self._outbox_enabled

        async def write(tx: Tx) -> int:
            changed = 0
            if rows:  # what changed reaches the customer as samples.changed with origin remap
                changed += await (upsert_reporting_changes(
                    tx, SAMPLE_COLUMNS, rows, _REMAP_UPSERT, origin="remap", at=at, inline=self._inline_samples,
                    documents=documents)
                    if reported else tx.insert_many("samples", SAMPLE_COLUMNS, rows, _REMAP_UPSERT))
            if quiet:
                changed += await tx.insert_many("samples", SAMPLE_COLUMNS, quiet, _REMAP_UPSERT)
            for user_id, source, sample_type, dedup_id in gone:
                sql = ("UPDATE samples SET deleted = ?, stored_at = ? WHERE user_id = ? AND source = ? "
                       "AND sample_type = ? AND dedup_id = ? AND deleted = 0")
                params = (REMOVED_BY_MAPPING, at, user_id, source, sample_type, dedup_id)
                changed += await (tombstone_reporting_changes(
                    tx, sql, params, origin="remap", at=at, inline=self._inline_samples)
                    if reported else tx.count(sql, params))
            if run is not None:
                await tx.count("UPDATE remap_runs SET position = ?, counts = ?, updated_at = ? WHERE run_id = ?",
                               (run.position, dump_json(dict(run.counts)), at, run.run_id))
            return changed

        return await self._ex.transaction(write)

    async def count_unarchived_samples(
        self, source: str, *, user_id: str | None = None, resources: Sequence[str] | None = None,
    ) -> int:
        """Live samples with no archived raw record behind them: not remappable."""
        clauses, params = self._scoped(["source = ?", "deleted = 0", "raw_key IS NULL"], [source],
                                       user_id, resources)
        row = await self._ex.read_one(
            f"SELECT COUNT(*) FROM samples WHERE {' AND '.join(clauses)}", params)
        return int(row[0]) if row else 0

    async def count_samples_by_mapping(
        self, source: str, *, user_id: str | None = None
    ) -> dict[tuple[str, str | None], int]:
        """Live samples per (resource, mapping hash)."""
        sql = "SELECT resource, mapping_hash, COUNT(*) FROM samples WHERE source = ? AND deleted = 0"
        params: list[Any] = [source]
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        rows = await self._ex.read_all(sql + " GROUP BY resource, mapping_hash", params)
        return {(row[0] or "", row[1]): int(row[2]) for row in rows}

    async def prune_raw(self, *, older_than_s: float, now: float | None = None) -> int:
        """Delete archived versions that arrived before now - older_than_s; samples mapped from a
        record with no version left lose their raw reference (no longer remappable)."""
        cutoff = self._now(now) - older_than_s

        async def prune(tx: Tx) -> int:
            pruned = await tx.count("DELETE FROM raw_records WHERE arrived_at < ?", (cutoff,))
            if pruned:
                await tx.count(
                    "UPDATE samples SET raw_key = NULL, raw_id = NULL WHERE raw_key IS NOT NULL "
                    "AND NOT EXISTS (SELECT 1 FROM raw_records r WHERE r.raw_key = samples.raw_key)")
            return pruned

        return await self._ex.transaction(prune)

    async def open_remap_run(
        self, vendor: str, user_id: str | None, scope: Mapping[str, Any], *,
        now: float | None = None,
    ) -> RemapRun:
        """The unfinished run of exactly this scope (resume it), or a new one."""
        at = self._now(now)
        text = dump_json(dict(sorted(scope.items())))

        async def open_run(tx: Tx) -> RemapRun:
            row = await tx.one(
                f"SELECT {RUN_COLUMNS} FROM remap_runs WHERE vendor = ? AND scope = ? "
                f"AND state = 'running' ORDER BY created_at LIMIT 1{tx.dialect.for_update}",
                (vendor, text))
            if row is not None:
                return _run(row)
            values = (new_id(at), vendor, user_id, text, None, "{}", "running", at, at)
            await tx.count(insert("remap_runs", RUN_COLUMNS), values)
            return _run(values)

        return await self._ex.transaction(open_run)

    async def update_remap_run(
        self, run_id: str, *, position: str | None, counts: Mapping[str, int], state: str,
        now: float | None = None,
    ) -> None:
        await self._ex.write(
            "UPDATE remap_runs SET position = ?, counts = ?, state = ?, updated_at = ? WHERE run_id = ?",
            (position, dump_json(dict(counts)), state, self._now(now), run_id))

    async def list_erasures(self) -> list[Erasure]:
        rows = await self._ex.read_all(f"SELECT {ERASURE_COLUMNS} FROM erasures ORDER BY erased_at, id")
        return [_erasure(row) for row in rows]
