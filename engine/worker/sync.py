"""Fetch → map → store, for one engine: sync planning, time windows, polling and record storage.

Every write is an idempotent upsert on the sample's dedup key, so running a window twice (a
retried job, a worker killed mid-window) leaves the same rows. The per-(connection, resource)
cursor is a time watermark: "everything before this instant is stored"; it moves only after a
window's pages are all stored.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.archive.keeping import Arrival, ResourceArchiver, compressed
from engine.context import EngineContext
from engine.errors import BadRequest, ConnectionNotFound, NotFound, TokenError
from engine.fetch.fetcher import Caller, Fetcher
from engine.fetch.windows import TimeWindow, as_utc, count_windows, plan_windows
from engine.jobs import PRIORITY_BACKFILL, JobKind, SyncWindowJob
from engine.mapping.compiler import ResourceMapper, compile_resource_mapper
from engine.mapping.zones import ZoneHistory
from engine.spec.model import DEFAULT_HORIZON_S, MAX_SYNC_WINDOWS, Resource, Spec
from engine.store.port import JobSpec, RawVersion, SampleRecord, Store, Sync
from engine.store.records import sync_job_key_prefix
from engine.worker.reread import Reread
from engine.worker.zones import (
    load_zones,
    needs_zone,
    note_record_zones,
    record_sources,
    refresh_identity_zone,
    zones_in_records,
)

log = logging.getLogger("engine.sync")

MAX_POLL_OVERLAP_S = 86400  # a poll re-reads up to a day before its cursor (late vendor edits)
MAX_WAITING_ROWS = 5000  # mapped rows held in memory while a write is in flight
WEBHOOK = Arrival("webhook")
POLL = Arrival("poll")


@dataclass(frozen=True, slots=True)
class StoreResult:
    records: int
    written: int
    warnings: int
    accepted: bool = False  # the vendor accepted the window for later delivery by push
    span: tuple[datetime, datetime] | None = None  # earliest and latest sample time stored

    def plus(self, other: StoreResult) -> StoreResult:
        spans = [s for s in (self.span, other.span) if s is not None]
        return StoreResult(
            self.records + other.records, self.written + other.written,
            self.warnings + other.warnings, self.accepted or other.accepted,
            (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None)


@dataclass(frozen=True, slots=True)
class _MappedPage:
    records: int
    rows: list[SampleRecord]
    warnings: int
    versions: list[RawVersion] = field(default_factory=list)  # to archive before the rows


def _merged(pages: list[_MappedPage]) -> _MappedPage:
    if len(pages) == 1:
        return pages[0]
    rows = [row for page in pages for row in page.rows]
    return _MappedPage(sum(p.records for p in pages), rows, sum(p.warnings for p in pages),
                       [v for page in pages for v in page.versions])


@dataclass(frozen=True, slots=True)
class SyncPlan:
    sync: Sync
    windows: dict[str, int]  # resource -> window count
    since: dict[str, datetime]  # resource -> effective start (after the horizon clamp)
    until: datetime
    clamped: dict[str, datetime] = field(default_factory=dict)  # resources whose start was clamped
    requested_since: datetime | None = None


def horizon_text(seconds: int) -> str:
    return f"{seconds // 86400}d" if seconds % 86400 == 0 else f"{seconds}s"


def _clamp_detail(since: datetime, clamped: dict[str, datetime], spec: Spec) -> dict[str, Any]:
    """What a sync's answer says about a range clamped to the history horizons."""
    resources = {}
    for name, start in clamped.items():
        endpoint = spec.resources[name].list
        resources[name] = {"since": start.isoformat(),
                           "horizon": horizon_text(endpoint.horizon_s if endpoint else DEFAULT_HORIZON_S)}
    return {"since": min(clamped.values()).isoformat(), "reason": "history_horizon",
            "requested_since": since.isoformat(), "resources": resources}


def seconds_left(sync: Sync, spec: Spec | None, now: float) -> float | None:
    """How long the sync's remaining windows should take: the pace so far, and never less than
    the vendor's budgets allow (each window costs at least one request; a budget's burst is free,
    the rest comes at its steady rate). None before any window is done when no budget binds; 0
    once nothing is left."""
    left = sync.windows_left
    if left == 0 or sync.cancelled_at is not None:
        return 0.0
    budgets = spec.limits.budgets if spec is not None else ()
    budget_floor = max((max(left - b.requests, 0) * b.window_s / b.requests
                        for b in budgets if b.requests > 0), default=0.0)
    if sync.windows_done <= 0:
        return budget_floor or None
    pace = max(now - sync.created_at, 0.0) / sync.windows_done
    return max(pace * left, budget_floor)


def _renders_local_time(spec: Spec) -> bool:
    """Whether a list of the spec sends window bounds as the user's wall-clock time."""
    return any(ep is not None and ep.window is not None and ep.window.local
               for r in spec.resources.values() for ep in (r.list, r.changes))


def _utc_now(engine: EngineContext) -> datetime:
    return datetime.fromtimestamp(engine.clock(), UTC)


class SyncService:
    """The worker's side of the engine: one per `Engine`, holding its fetchers and mappers."""

    def __init__(self, engine: EngineContext) -> None:
        self.engine = engine
        self._fetchers: dict[str, Fetcher] = {}
        self._mappers: dict[tuple[str, str], ResourceMapper] = {}
        self._archivers: dict[tuple[str, str], ResourceArchiver] = {}

    @property
    def store(self) -> Store:
        return self.engine.store

    # ------------------------------------------------------------------ parts

    def fetcher(self, spec: Spec) -> Fetcher:
        fetcher = self._fetchers.get(spec.id)
        if fetcher is None or fetcher.spec is not spec:
            fetcher = self._fetchers[spec.id] = Fetcher(spec, self.engine.http, self.store,
                                                         metrics=getattr(self.engine, "metrics", None))
        return fetcher

    def mapper(self, spec: Spec, resource: str) -> ResourceMapper:
        key = (spec.id, resource)
        mapper = self._mappers.get(key)
        if mapper is None:
            mapper = self._mappers[key] = compile_resource_mapper(spec, resource)
        return mapper

    def archiver(self, spec: Spec, resource: str) -> ResourceArchiver:
        key = (spec.id, resource)
        archiver = self._archivers.get(key)
        if archiver is None:
            archiver = self._archivers[key] = ResourceArchiver(spec, resource)
        return archiver

    def resource(self, spec: Spec, name: str) -> Resource:
        resource = spec.resources.get(name)
        if resource is None:
            known = ", ".join(sorted(spec.resources)) or "none"
            raise BadRequest(f"{spec.id} has no resource {name!r}; known: {known}", vendor=spec.id)
        return resource

    async def caller(self, spec: Spec, user_id: str) -> Caller:
        connection = await self.store.get_connection(spec.id, user_id)
        if connection is None:
            raise ConnectionNotFound(f"user {user_id!r} has no {spec.id} connection", vendor=spec.id)
        oauth = self.engine.oauth
        last: list[str | None] = [None]

        async def token(*, force_refresh: bool = False) -> str:
            fresh = await oauth.fresh_connection(
                spec.id, user_id, force=force_refresh, rejected_token=last[0] if force_refresh else None
            )
            if not fresh.access_token:
                raise TokenError(f"the {spec.id} connection has no access token", vendor=spec.id)
            last[0] = fresh.access_token
            return fresh.access_token

        zones = await load_zones(self.store, spec, user_id) if _renders_local_time(spec) else None
        return Caller(user_id=user_id, vendor_user_id=connection.vendor_user_id, token=token, zones=zones)

    # ------------------------------------------------------------------ storing

    async def store_records(
        self, spec: Spec, resource: str, user_id: str, records: Iterable[Any], *,
        arrival: Arrival = WEBHOOK,
    ) -> StoreResult:
        records = list(records)
        zones = await self.zones(spec, resource, user_id, records)
        return await self._write(self._map(spec, resource, user_id, records, arrival, zones))

    async def zones(self, spec: Spec, resource: str, user_id: str, records: list[Any]) -> ZoneHistory | None:
        """The connection's zone history for mapping, after noting zones these records carry."""
        sources = record_sources(spec, resource)
        if sources:
            await note_record_zones(self.store, spec, user_id, zones_in_records(sources, records))
        return await load_zones(self.store, spec, user_id)

    def _map(self, spec: Spec, resource: str, user_id: str, records: Iterable[Any],
             arrival: Arrival, zones: ZoneHistory | None = None) -> _MappedPage:
        records = list(records)
        if not records:
            return _MappedPage(0, [], 0)
        archiver = self.archiver(spec, resource)
        versions: list[RawVersion] = []
        if self.engine.settings.raw_archive and arrival.archived:
            rows, warnings, first = archiver.map_linked(self.mapper(spec, resource), records, user_id,
                                                        arrival, versions, zones)
        else:
            result = self.mapper(spec, resource).map_records(records, user_id, zones)
            provenance = archiver.provenance(arrival.channel, None)
            rows = [SampleRecord.from_sample(s, s["dedup_key"], provenance) for s in result.samples]
            warnings, first = len(result.warnings), result.warnings[0] if result.warnings else None
        if warnings:
            log.info("mapping warnings", extra={"vendor": spec.id, "user": user_id, "resource": resource,
                                                "warnings": warnings, "first_warning": str(first)})
        return _MappedPage(len(records), rows, warnings, versions)

    async def _archive(self, versions: list[RawVersion]) -> None:
        """Keep the versions not already archived as their record's latest (a record seen again
        unchanged costs one hash compare); they are written before the samples naming them."""
        heads = await self.store.raw_head_ids([v.raw_key for v in versions])
        changed = [v for v in versions if heads.get(v.raw_key) != v.id]
        if changed:
            await self.store.archive_raw(compressed(changed))

    async def _write(self, page: _MappedPage) -> StoreResult:
        rows = page.rows
        if page.versions:
            await self._archive(page.versions)
        if not rows:
            return StoreResult(page.records, 0, page.warnings)
        written = (await self.store.upsert_samples(rows)).written
        superseding = [r for r in rows if (r.resource, r.sample_type) in self._superseding(r.source)]
        if superseding:  # the same record stored before under another identity is replaced
            await self.store.tombstone_superseded(superseding)
        metrics = getattr(self.engine, "metrics", None)
        if metrics is not None:
            metrics.samples_stored(rows[0].source, written)
        span = (min(r.timestamp_utc for r in rows), max(r.end_utc or r.timestamp_utc for r in rows))
        return StoreResult(page.records, written, page.warnings, span=span)

    def _superseding(self, vendor: str) -> frozenset[tuple[str, str]]:
        """(resource, sample type) pairs whose mapping names the identity it supersedes."""
        spec = self.engine.specs.get(vendor)
        if spec is None:
            return frozenset()
        return frozenset((r.name, m.type) for r in spec.resources.values() for m in r.samples
                         if m.supersedes is not None)

    async def tombstone(self, spec: Spec, resource: str, user_id: str, record_id: str) -> int:
        return await self.store.tombstone_samples(
            user_id, spec.id, vendor_record_id=record_id, resource=resource,
            deleted_at=_utc_now(self.engine),
        )

    async def tombstone_window(
        self, spec: Spec, resource: str, user_id: str, window: TimeWindow, *, stored_before: float | None
    ) -> int:
        return await self.store.tombstone_samples_in_window(
            user_id, spec.id, resource, window.start, window.end, stored_before=stored_before
        )

    # ------------------------------------------------------------------ windows

    async def run_window(
        self, spec: Spec, user_id: str, resource_name: str, window: TimeWindow | None,
        *, caller: Caller | None = None, advance_cursor: bool = True, changes: bool = False,
        arrival: Arrival = WEBHOOK, replace: bool = False,
    ) -> StoreResult:
        """Fetch every page of one window (of the resource's `changes` listing with `changes`),
        storing each page as it arrives. With `replace`, once every page is stored, samples of the
        records read that their current version no longer maps to are removed (engine/worker/reread.py)."""
        resource = self.resource(spec, resource_name)
        caller = caller or await self.caller(spec, user_id)
        fetcher = self.fetcher(spec)
        stored: list[StoreResult] = []
        accepted = False
        # Pages are written while the next ones are fetched and mapped. One write is in flight at a
        # time; the pages mapped meanwhile are written together when it has committed, so a slow
        # commit makes the next write bigger rather than the fetch slower. Writes commit in page
        # order, and every write has committed before the cursor moves.
        writing: asyncio.Task[StoreResult] | None = None
        waiting: list[_MappedPage] = []
        waiting_rows = 0
        reread = Reread() if replace else None
        try:
            async for page in fetcher.pages(caller, resource, window, changes=changes):
                accepted = accepted or page.accepted
                zones = await self.zones(spec, resource_name, user_id, page.records)
                mapped = self._map(spec, resource_name, user_id, page.records, arrival, zones)
                if reread is not None:
                    reread.add(self.archiver(spec, resource_name), page.records, mapped.rows)
                waiting.append(mapped)
                waiting_rows += len(mapped.rows)
                if writing is not None and (writing.done() or waiting_rows >= MAX_WAITING_ROWS):
                    stored.append(await writing)
                    writing = None
                if writing is None:
                    writing = asyncio.ensure_future(self._write(_merged(waiting)))
                    waiting, waiting_rows = [], 0
            if writing is not None:
                stored.append(await writing)
                writing = None
            if waiting:
                stored.append(await self._write(_merged(waiting)))
        finally:
            if writing is not None:  # the window failed: let the write in flight settle first
                await asyncio.gather(writing, return_exceptions=True)
        if reread is not None:
            await reread.replace(self.store, spec.id, user_id, resource_name)
        if advance_cursor and window is not None and not accepted:
            await self.advance_cursor(spec, user_id, resource_name, window.end)
        total = StoreResult(0, 0, 0, accepted=accepted)
        for part in stored:
            total = total.plus(part)
        return total

    async def advance_cursor(self, spec: Spec, user_id: str, resource: str, stored_until: datetime) -> None:
        mark = min(as_utc(stored_until), _utc_now(self.engine))
        current = await self.cursor(spec, user_id, resource)
        if current is None or mark > current:
            await self.store.set_cursor(spec.id, user_id, resource, mark.isoformat())

    async def cursor(self, spec: Spec, user_id: str, resource: str) -> datetime | None:
        raw = await self.store.get_cursor(spec.id, user_id, resource)
        if not raw:
            return None
        try:
            return as_utc(datetime.fromisoformat(raw))
        except ValueError:
            return None  # an unreadable cursor is treated as none: the poll starts over

    async def run_poll(self, spec: Spec, user_id: str, resource_name: str) -> StoreResult:
        """Incremental sync: from the cursor (minus an overlap) to now, window by window."""
        resource = self.resource(spec, resource_name)
        if resource.list is None:
            return StoreResult(0, 0, 0)
        now = _utc_now(self.engine)
        cursor = await self.cursor(spec, user_id, resource_name)
        if cursor is None:
            since = now - timedelta(days=spec.initial_sync_days or 1)
        else:
            overlap = min(resource.poll_s or MAX_POLL_OVERLAP_S, MAX_POLL_OVERLAP_S)
            since = cursor - timedelta(seconds=overlap)
        since = self._horizon_clip(resource, since, now)[0]
        caller = await self.caller(spec, user_id)
        if await needs_zone(self.store, spec, user_id):  # a connection made before zones were kept
            await refresh_identity_zone(self.engine, spec,
                                        await self.engine.oauth.fresh_connection(spec.id, user_id))
        total = StoreResult(0, 0, 0)
        for window in plan_windows(since, now, resource.list.window):
            total = total.plus(await self.run_window(spec, user_id, resource_name, window, caller=caller,
                                                     arrival=POLL))
        await self.store.record_connection_activity(spec.id, user_id, last_pull_at=now.timestamp())
        return total

    # ------------------------------------------------------------------ planning

    @staticmethod
    def _horizon_clip(resource: Resource, since: datetime, now: datetime) -> tuple[datetime, bool]:
        """`since`, or the start of the resource's history horizon when `since` is older."""
        horizon = (resource.list.horizon_s if resource.list is not None else None) or DEFAULT_HORIZON_S
        try:
            floor = now - timedelta(seconds=horizon)
        except OverflowError:  # a horizon reaching before year 1 clamps nothing
            return since, False
        return (floor, True) if since < floor else (since, False)

    async def plan(
        self,
        vendor: str,
        user_id: str,
        *,
        since: datetime,
        until: datetime | None = None,
        resources: Sequence[str] | None = None,
        channel: str = "manual_sync",
        replace: bool = False,
    ) -> SyncPlan:
        """Split the range into windows per resource (within each resource's history horizon),
        record a sync and enqueue one job per window. A start older than a resource's horizon is
        clamped to it (the plan and the sync's detail say so); a plan of more than
        `MAX_SYNC_WINDOWS` windows is refused. With `replace`, each window removes the samples
        its records no longer map to (the repair after a corrected mapping)."""
        spec = self.engine.spec(vendor)
        connection = await self.store.get_connection(spec.id, user_id)
        if connection is None:
            raise ConnectionNotFound(f"user {user_id!r} has no {spec.id} connection", vendor=spec.id)
        if connection.status != "active":
            raise TokenError(f"the {spec.id} connection is {connection.status}", vendor=spec.id)
        now = _utc_now(self.engine)
        since = as_utc(since)
        until = min(as_utc(until), now) if until is not None else now
        if since >= until:
            raise BadRequest("since must be before until (and before now)", vendor=spec.id)
        names = list(dict.fromkeys(resources)) if resources else [
            n for n, r in spec.resources.items() if r.list is not None]
        for name in names:
            if self.resource(spec, name).list is None:
                raise BadRequest(f"{spec.id} resource {name!r} cannot be listed, so it cannot be synced",
                                 vendor=spec.id)
        starts: dict[str, datetime] = {}
        clamped: dict[str, datetime] = {}
        total = 0
        for name in names:
            resource = spec.resources[name]
            assert resource.list is not None
            start, was_clamped = self._horizon_clip(resource, since, now)
            starts[name] = start
            if was_clamped:
                clamped[name] = start
            total += count_windows(start, until, resource.list.window)
        if total > MAX_SYNC_WINDOWS:
            raise BadRequest(f"this sync would queue {total} windows; one sync may queue at most "
                             f"{MAX_SYNC_WINDOWS}: ask for a shorter range or fewer resources",
                             code="sync_too_large", vendor=spec.id)
        jobs: list[JobSpec] = []
        counts: dict[str, int] = {}
        sync_id = "sync_" + secrets.token_hex(10)
        for position, name in enumerate(names):
            resource = spec.resources[name]
            assert resource.list is not None
            windows = plan_windows(starts[name], until, resource.list.window)
            counts[name] = len(windows)
            for index, window in enumerate(windows):
                # each resource's k-th window, then the k+1-th: users' syncs take turns window by window
                job = SyncWindowJob(vendor=spec.id, user_id=user_id, resource=name,
                                    window=window.to_payload(), sync_id=sync_id, channel=channel,
                                    replace=replace)
                jobs.append(JobSpec(
                    kind=JobKind.SYNC_WINDOW, payload=job.to_payload(),
                    idempotency_key=f"{sync_job_key_prefix(sync_id)}{name}\x1f{index}",
                    vendor=spec.id, user_id=user_id, priority=PRIORITY_BACKFILL,
                    fair_seq=index * len(names) + position,
                ))
        note = None
        detail: dict[str, Any] = {"since": since.isoformat(), "until": until.isoformat(), "resources": counts}
        if replace:
            detail["replace"] = True
        if clamped:
            detail["clamped"] = _clamp_detail(since, clamped, spec)
            note = (f"since {since.date().isoformat()} is older than the history horizon; synced from "
                    + ", ".join(f"{start.date().isoformat()} for {name} "
                                f"(horizon {detail['clamped']['resources'][name]['horizon']})"
                                for name, start in clamped.items()))
        sync = await self.store.create_sync(
            sync_id, spec.id, user_id, windows_total=len(jobs), clipped_note=note, detail=detail,
        )
        if jobs:
            await self.store.enqueue_many(jobs)
        log.info("sync planned", extra={"vendor": spec.id, "user": user_id, "sync_id": sync_id,
                                        "windows": len(jobs)})
        return SyncPlan(sync, counts, starts, until, clamped, since)

    async def cancel(self, sync_id: str) -> Sync:
        """Stop a sync: its queued windows are removed (a window already running finishes and is
        counted); samples already stored stay."""
        sync = await self.store.cancel_sync(sync_id)
        if sync is None:
            raise NotFound("no sync with this id", code="sync_not_found")
        log.info("sync cancelled", extra={"vendor": sync.vendor, "user": sync.user_id, "sync_id": sync_id,
                                          "windows": sync.windows_cancelled})
        return sync

    async def plan_initial(self, vendor: str, user_id: str) -> SyncPlan:
        spec = self.engine.spec(vendor)
        days = spec.initial_sync_days
        now = _utc_now(self.engine)
        return await self.plan(vendor, user_id, since=now - timedelta(days=max(days, 0)), until=now,
                               channel="backfill")
