"""What the pages show, read from the engine's own services (store, metrics, rate budgets, sync)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from engine.engine import Engine
from engine.jobs import JobKind
from engine.store.port import Connection, Job, Sync
from engine.worker.sync import seconds_left

REFUSAL_REASONS = ("signature", "timestamp", "header_mismatch", "missing_header", "malformed", "not_configured")
MAX_CONNECTIONS = 500
JOBS_PER_STATE = 50
MAX_SCANNED_JOBS = 3000


@dataclass
class DeliveryRate:
    """Accepted deliveries per minute, from two looks at the counter (this process's console)."""

    first_at: float
    first_total: float

    def per_minute(self, now: float, total: float) -> float | None:
        elapsed = now - self.first_at
        return None if elapsed < 5 else (total - self.first_total) * 60 / elapsed


async def vendor_rows(engine: Engine, rates: dict[str, DeliveryRate]) -> list[dict[str, Any]]:
    now = engine.clock()
    connections = await engine.store.list_connections()
    rows = []
    for vendor, spec in sorted(engine.specs.items()):
        mine = [c for c in connections if c.vendor == vendor]
        accepted = engine.metrics.value("engine_webhook_deliveries_total", vendor=vendor, outcome="accepted")
        rate = rates.setdefault(vendor, DeliveryRate(now, accepted))
        refused = {reason: int(engine.metrics.value("engine_webhook_verification_failures_total",
                                                    vendor=vendor, reason=reason))
                   for reason in REFUSAL_REASONS}
        limits = await engine.connector(vendor).rate_limits()
        rows.append({
            "id": vendor, "name": spec.name, "configured": spec.auth.configured, "retired": spec.retired,
            "webhooks": spec.webhooks is not None,
            "polling": sorted(name for name, r in spec.resources.items() if r.poll_s),
            "connections": len(mine),
            "last_delivery": max((c.last_webhook_at for c in mine if c.last_webhook_at), default=None),
            "last_poll": max((c.last_pull_at for c in mine if c.last_pull_at), default=None),
            "deliveries": int(accepted),
            "per_minute": rate.per_minute(now, accepted),
            "refused": {reason: count for reason, count in refused.items() if count},
            "budgets": limits.app, "backoff_s": limits.backoff_s,
        })
    return rows


def matches(connection: Connection, query: str) -> bool:
    needle = query.casefold()
    return needle in connection.user_id.casefold() or needle in (connection.vendor_user_id or "").casefold()


async def connection_rows(engine: Engine, query: str) -> tuple[list[dict[str, Any]], int]:
    now = engine.clock()
    found = [c for c in await engine.store.list_connections() if not query or matches(c, query)]
    rows = []
    for connection in found[:MAX_CONNECTIONS]:
        history = await engine.store.zone_history(connection.vendor, connection.user_id)
        rows.append({
            "c": connection, "expires_in": connection.expires_in(now),
            "reauth": connection.status == "reauth_required", "zone": history[-1][1] if history else None,
            "known": connection.vendor in engine.specs,
        })
    return rows, len(found)


async def job_lists(engine: Engine) -> tuple[dict[str, int], dict[str, list[Job]]]:
    counts = await engine.store.count_jobs()
    lists = {state: await engine.store.list_jobs(state=state, limit=JOBS_PER_STATE)
             for state in ("queued", "running", "failed", "dead")}
    return counts, lists


async def active_syncs(engine: Engine, lists: dict[str, list[Job]]) -> list[dict[str, Any]]:
    ids = dict.fromkeys(str(job.payload.get("sync_id")) for state in ("running", "queued")
                        for job in lists[state] if job.kind == JobKind.SYNC_WINDOW and job.payload.get("sync_id"))
    syncs = [await engine.store.get_sync(sync_id) for sync_id in ids]
    return [await progress(engine, sync) for sync in syncs if sync is not None]


async def resource_done(engine: Engine, sync: Sync) -> Counter[str]:
    """Windows done per resource, from the sync's window jobs (a bounded scan)."""
    done: Counter[str] = Counter()
    after: str | None = None
    scanned = 0
    while scanned < MAX_SCANNED_JOBS:
        jobs = await engine.store.list_jobs(kind=JobKind.SYNC_WINDOW, state="done", limit=500, after_id=after)
        for job in jobs:
            if job.payload.get("sync_id") == sync.sync_id:
                done[str(job.payload.get("resource"))] += 1
        scanned += len(jobs)
        if len(jobs) < 500:
            break
        after = jobs[-1].id
    return done


async def progress(engine: Engine, sync: Sync) -> dict[str, Any]:
    """A sync's progress in GET /v1/syncs/{id}'s terms, plus windows done per resource."""
    done_windows = min(sync.windows_done, sync.windows_total)
    eta = seconds_left(sync, engine.specs.get(sync.vendor), engine.clock())
    planned = sync.detail.get("resources") or {}
    done = await resource_done(engine, sync) if len(planned) > 1 else Counter(dict.fromkeys(planned, done_windows))
    return {
        "sync_id": sync.sync_id, "vendor": sync.vendor, "user_id": sync.user_id,
        "state": "cancelled" if sync.cancelled_at is not None else "done" if sync.finished else "running",
        "windows_total": sync.windows_total, "windows_done": done_windows,
        "windows_cancelled": sync.windows_cancelled, "eta_s": None if eta is None else round(eta, 1),
        "records": sync.records, "errors": sync.errors, "last_error": sync.last_error,
        "clipped_note": sync.clipped_note, "created_at": sync.created_at,
        "percent": 100 if sync.windows_total == 0 else round(100 * done_windows / sync.windows_total),
        "per_resource": [{"resource": name, "windows": int(total), "done": min(done[name], int(total))}
                         for name, total in sorted(planned.items())],
    }
