"""Re-map: run the current spec's mappings over the archived raw records and bring the stored
samples in line, without a vendor call.

Records are read in pages of their latest versions, in key order. For each record the samples it
maps to now are compared with the samples stored from it: new ones are added, differing ones
replaced, ones the mapping no longer produces are marked removed by the mapping (a vendor's own
tombstone is never undone). A dry run only counts. A real run writes each page in one transaction
and then records its position, so a run that dies resumes after the last page it wrote (a page
written twice writes the same rows). Samples with no archived record behind them are reported as
not remappable and left alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.archive.keeping import ResourceArchiver, decompress
from engine.mapping.compiler import ResourceMapper, compile_resource_mapper
from engine.mapping.zones import ZoneHistory, ranked_history
from engine.spec.model import Spec
from engine.store.port import RawHead, RemapProgress, SampleRecord, Store, StoredSample

BATCH = 2000
MAX_EXAMPLES = 10
COUNTS = ("records", "added", "changed", "removed", "unchanged", "restamped")

Progress = Callable[[int, int], None]  # (records done, records in scope)


@dataclass(frozen=True, slots=True)
class SampleChange:
    """One sample a re-map changes, with its fields before → after (None: absent)."""

    user_id: str
    sample_type: str
    dedup_id: str
    fields: dict[str, tuple[Any, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "sample_type": self.sample_type, "dedup_id": self.dedup_id,
                "fields": {k: {"before": b, "after": a} for k, (b, a) in self.fields.items()}}


@dataclass(slots=True)
class RemapReport:
    vendor: str
    dry_run: bool
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    not_remappable: int = 0
    examples: list[SampleChange] = field(default_factory=list)
    run_id: str | None = None
    resumed: bool = False

    @property
    def changes(self) -> int:
        return self.counts["added"] + self.counts["changed"] + self.counts["removed"]

    def as_dict(self) -> dict[str, Any]:
        return {"vendor": self.vendor, "dry_run": self.dry_run, **self.counts,
                "not_remappable": self.not_remappable, "run_id": self.run_id,
                "resumed": self.resumed, "examples": [e.as_dict() for e in self.examples]}


def _field_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    skip = {"provenance", "dedup_key"}
    return {key: (before.get(key), after.get(key)) for key in sorted(set(before) | set(after))
            if key not in skip and before.get(key) != after.get(key)}


@dataclass(slots=True)
class _Page:
    upserts: list[SampleRecord] = field(default_factory=list)
    restamped: list[SampleRecord] = field(default_factory=list)
    removed: list[tuple[str, str, str, str]] = field(default_factory=list)


class Remapper:
    """Re-maps one vendor's archived records with the spec as loaded now."""

    def __init__(self, store: Store, spec: Spec, *, batch: int = BATCH,
                 progress: Progress | None = None) -> None:
        self.store = store
        self.spec = spec
        self.batch = batch
        self.progress = progress
        self._mappers: dict[str, tuple[ResourceMapper, ResourceArchiver]] = {}
        self._zones: dict[str, ZoneHistory | None] = {}

    async def zones(self, user_id: str) -> ZoneHistory | None:
        """The user's zone history, as a sync maps with it: local times are re-derived with the
        zone in force at their instant."""
        if user_id not in self._zones:
            self._zones[user_id] = ranked_history(
                self.spec.time_zone, await self.store.zone_history(self.spec.id, user_id)
            ) if self.spec.time_zone else None
        return self._zones[user_id]

    def _parts(self, resource: str) -> tuple[ResourceMapper, ResourceArchiver]:
        parts = self._mappers.get(resource)
        if parts is None:
            parts = self._mappers[resource] = (compile_resource_mapper(self.spec, resource),
                                               ResourceArchiver(self.spec, resource))
        return parts

    def scope(self, user_id: str | None, since: datetime | None,
              resources: Sequence[str] | None) -> dict[str, Any]:
        names = sorted(resources) if resources else sorted(self.spec.resources)
        hashes = [ResourceArchiver(self.spec, name).mapping_hash for name in names]
        return {"user": user_id, "since": None if since is None else since.isoformat(),
                "resources": names, "mappings": hashlib.sha256("".join(hashes).encode()).hexdigest()[:16]}

    async def run(self, *, user_id: str | None = None, since: datetime | None = None,
                  resources: Sequence[str] | None = None, dry_run: bool = False) -> RemapReport:
        names = list(resources) if resources else [n for n, r in self.spec.resources.items() if r.samples]
        for name in names:
            if name not in self.spec.resources:
                known = ", ".join(sorted(self.spec.resources))
                raise ValueError(f"{self.spec.id} has no resource {name!r}; known: {known}")
        report = RemapReport(self.spec.id, dry_run)
        report.not_remappable = await self.store.count_unarchived_samples(
            self.spec.id, user_id=user_id, resources=names)
        total = await self.store.count_raw_heads(self.spec.id, user_id=user_id, resources=names)
        after: tuple[str, str, str] | None = None
        run = None
        if not dry_run:
            run = await self.store.open_remap_run(self.spec.id, user_id, self.scope(user_id, since, names))
            report.run_id = run.run_id
            if run.position is not None:
                user, resource, record_key = json.loads(run.position)
                after = (user, resource, record_key)
                report.resumed = True
                report.counts.update({k: int(v) for k, v in run.counts.items() if k in report.counts})
        done = report.counts["records"]
        while True:
            heads = await self.store.raw_heads(self.spec.id, user_id=user_id, resources=names,
                                               after=after, limit=self.batch)
            if not heads:
                break
            page = await self._page(heads, since, report)
            after = (heads[-1].user_id, heads[-1].resource, heads[-1].record_key)
            done += len(heads)
            if run is not None:  # the page and the position move together
                await self.store.apply_remap(page.upserts, page.removed, restamped=page.restamped,
                                             run=RemapProgress(run.run_id, json.dumps(after), dict(report.counts)))
            if self.progress is not None:
                self.progress(done, max(total, done))
            if len(heads) < self.batch:
                break
        if run is not None:
            await self.store.update_remap_run(run.run_id, position=None, counts=report.counts, state="done")
        return report

    async def _page(self, heads: list[RawHead], since: datetime | None, report: RemapReport) -> _Page:
        stored: dict[str, list[StoredSample]] = {}
        for kept in await self.store.samples_of_raw(self.spec.id, [(h.user_id, h.raw_key) for h in heads]):
            stored.setdefault((kept.provenance.raw_key if kept.provenance else None) or "", []).append(kept)
        page = _Page()
        counts = report.counts
        for head in heads:
            mapper, archiver = self._parts(head.resource)
            record = decompress(head.codec, head.body)
            provenance = archiver.provenance_of(head)
            zones = await self.zones(head.user_id)
            fresh = {(s["sample_type"], s["dedup_key"]): SampleRecord.from_sample(s, s["dedup_key"], provenance)
                     for s in mapper.map_records((record,), head.user_id, zones).samples}
            old = {(s.sample_type, s.dedup_id): s for s in stored.get(head.raw_key, ())}
            if since is not None and not any(
                    t >= since for t in [*(s.timestamp_utc for s in fresh.values()),
                                         *(s.timestamp_utc for s in old.values())]):
                continue
            counts["records"] += 1
            for key, sample in fresh.items():
                before = old.get(key)
                if before is None:
                    counts["added"] += 1
                    page.upserts.append(sample)
                    self._example(report, sample, {}, dict(sample.payload))
                elif before.deleted and not before.removed_by_mapping:
                    counts["unchanged"] += 1  # the vendor deleted it: a re-map does not bring it back
                elif before.removed_by_mapping or _content(before.payload) != _content(sample.payload):
                    counts["changed"] += 1
                    page.upserts.append(sample)
                    self._example(report, sample, before.payload, dict(sample.payload))
                elif (before.provenance is None
                      or before.provenance.mapping_hash != provenance.mapping_hash
                      or before.provenance.raw_id != provenance.raw_id):
                    counts["restamped"] += 1
                    page.restamped.append(sample)
                else:
                    counts["unchanged"] += 1
            for key, gone in old.items():
                if key not in fresh and not gone.deleted:
                    counts["removed"] += 1
                    page.removed.append((gone.user_id, gone.source, gone.sample_type, gone.dedup_id))
                    self._example(report, None, gone.payload, {}, gone)
        return page

    @staticmethod
    def _example(report: RemapReport, sample: SampleRecord | None, before: dict[str, Any],
                 after: dict[str, Any], stored: StoredSample | None = None) -> None:
        if len(report.examples) >= MAX_EXAMPLES:
            return
        known = sample if sample is not None else stored
        assert known is not None
        report.examples.append(SampleChange(known.user_id, known.sample_type, known.dedup_id,
                                            _field_changes(before, after)))


def _content(payload: Any) -> Any:
    """A payload without its tombstone flag, as JSON would give it back."""
    return {k: v for k, v in json.loads(json.dumps(payload)).items() if k != "deleted"}


async def older_mapping_samples(store: Store, spec: Spec, user_id: str | None = None) -> int:
    """Live samples mapped by a version of the spec's mappings other than the loaded one (samples
    from before provenance was kept are not counted: they have no raw record to re-map)."""
    current = {name: ResourceArchiver(spec, name).mapping_hash for name in spec.resources}
    counts = await store.count_samples_by_mapping(spec.id, user_id=user_id)
    return sum(n for (resource, digest), n in counts.items()
               if digest is not None and current.get(resource) != digest)
