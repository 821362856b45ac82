"""The worker's clock-driven jobs: incremental polls at each resource's `poll` interval and
proactive refresh of tokens that would otherwise expire unused.

The scheduler only enqueues; the job loop does the work. Idempotency keys make a tick safe to
run on every worker at once: a poll's key names its interval bucket (one poll per connection,
resource and interval, however many schedulers tick) and a refresh's key names the token version.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from engine.context import EngineContext
from engine.jobs import PRIORITY_LIVE, PRIORITY_POLL, JobKind, PollJob, TokenRefreshJob
from engine.store.port import Connection, JobSpec
from engine.subscriptions.renewals import renewal_jobs
from engine.worker.deliveries import close_overdue
from engine.worker.runner import HandlerRegistry, Worker

log = logging.getLogger("engine.scheduler")

REFRESH_LEAD_S = 600.0  # refresh this long before a token expires
PRUNE_EVERY_S = 3600.0  # retention: old inbox events, states, finished jobs, raw records


class Scheduler:
    def __init__(self, engine: EngineContext, *, tick_s: float = 30.0, refresh_lead_s: float = REFRESH_LEAD_S) -> None:
        self.engine = engine
        self.tick_s = tick_s
        self.refresh_lead_s = refresh_lead_s
        self._pruned_at: float | None = None

    def jobs_for(self, connection: Connection, now: float) -> list[JobSpec]:
        spec = self.engine.specs.get(connection.vendor)
        if spec is None:
            return []
        jobs: list[JobSpec] = []
        for name, resource in spec.resources.items():
            if not resource.poll_s or resource.list is None:
                continue
            if now < connection.created_at + resource.poll_s:
                continue  # the initial sync covers the first interval
            bucket = math.floor(now / resource.poll_s)
            jobs.append(JobSpec(
                kind=JobKind.POLL, payload=PollJob(spec.id, connection.user_id, name).to_payload(),
                idempotency_key=f"poll\x1f{spec.id}\x1f{connection.user_id}\x1f{name}\x1f{bucket}",
                vendor=spec.id, user_id=connection.user_id, max_attempts=3, priority=PRIORITY_POLL,
            ))
        expires = connection.token_expires_at
        if connection.refresh_token and expires is not None and expires - now < self.refresh_lead_s:
            jobs.append(JobSpec(
                kind=JobKind.TOKEN_REFRESH,
                payload=TokenRefreshJob(spec.id, connection.user_id, connection.token_version).to_payload(),
                idempotency_key=f"refresh\x1f{spec.id}\x1f{connection.user_id}\x1f{connection.token_version}",
                vendor=spec.id, user_id=connection.user_id, max_attempts=3, priority=PRIORITY_LIVE,
            ))
        return jobs

    async def tick(self, now: float | None = None) -> int:
        """Enqueue whatever is due; returns how many jobs were newly created."""
        now = self.engine.clock() if now is None else now
        connections = await self.engine.store.list_connections(status="active")
        jobs = [job for c in connections for job in self.jobs_for(c, now)]
        jobs += await renewal_jobs(self.engine, now)  # app subscriptions expiring soon
        await close_overdue(self.engine, now)
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            pruned = await self.engine.store.prune(raw_older_than_s=self.engine.settings.raw_retention_s, now=now)
            if any(pruned.values()):
                log.info("retention pruned rows", extra={"pruned": pruned})
        if not jobs:
            return 0
        results = await self.engine.store.enqueue_many(jobs, now=now)
        created = sum(1 for r in results if r.created)
        if created:
            log.info("scheduled jobs", extra={"jobs_created": created})
        return created

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as error:  # noqa: BLE001 -- a failed tick is retried on the next one
                log.warning("scheduler tick failed: %s", type(error).__name__)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.tick_s)


@asynccontextmanager
async def background_worker(engine: EngineContext, handlers: HandlerRegistry, *,
                            tick_s: float = 30.0) -> AsyncIterator[None]:
    """Run the job loop and the scheduler inside the current process (what `engine serve` does
    unless ENGINE_NO_WORKER=1); both stop when the block exits."""
    if engine.settings.env.get("ENGINE_NO_WORKER") == "1":
        yield
        return
    stop = asyncio.Event()
    worker = Worker(engine.store, engine, registry=handlers, clock=engine.clock)
    tasks = [asyncio.create_task(worker.run(stop)), asyncio.create_task(Scheduler(engine, tick_s=tick_s).run(stop))]
    log.info("in-process worker started", extra={"worker_id": worker.worker_id})
    try:
        yield
    finally:
        stop.set()
        for task in tasks:
            with suppress(Exception):
                await asyncio.wait_for(task, timeout=10)
