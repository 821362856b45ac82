"""The generic job loop: claim a due job with a lease, run its kind's handler, ack or fail.

While a handler runs, a heartbeat keeps extending the lease; if the lease is lost (another worker
took the job after a stall) the handler is cancelled and nothing is acked. A failed attempt is
retried after a full-jitter exponential backoff; the store dead-letters the job, with its last
error, once its attempts are used up. A worker killed mid-job loses nothing: the lease expires and
another worker claims the job again.

Besides its `concurrency` lanes, a worker keeps `live_lanes` lanes that take only live work
(`LIVE_KINDS`: webhook events, token refreshes): the other lanes may all be holding backfill jobs
that wait for a budget slot, and a live job must not wait for one of them to finish. An idle lane
sleeps until the next poll or until the store says a job was queued in this process.

Attempts count failures only. A handler that must wait for something else (the rate budget's next
slot) raises `Reschedule`: the job goes back to the queue for that moment and the store gives the
claim's attempt back. When the worker stops, a job waiting in place for a budget slot stops
waiting and is rescheduled the same way, so the worker exits without waiting for the slot.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable, Coroutine, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from engine.fetch.backoff import full_jitter
from engine.fetch.ratelimit import budget_priority, end_budget_waits_on
from engine.jobs import JobKind, PermanentJobError, Reschedule, RetryLater
from engine.logs import log_context, new_trace_id
from engine.store.errors import StoreError
from engine.store.port import Job, Store

log = logging.getLogger("engine.worker")

Handler = Callable[[Job, Any], Coroutine[Any, Any, None]]  # async fn(job, engine)

_MAX_ERROR_CHARS = 2000
# The kinds a live lane takes: work that somebody is waiting for now.
LIVE_KINDS = (JobKind.WEBHOOK_EVENT, JobKind.TOKEN_REFRESH)


class HandlerRegistry:
    """Which handler runs each job kind; every engine has its own (`Engine.handlers`)."""

    def __init__(self, handlers: Mapping[str, Handler] | None = None) -> None:
        self._handlers: dict[str, Handler] = {}
        for kind, handler in (handlers or {}).items():
            self.register(kind, handler)

    def register(self, kind: str, handler: Handler) -> None:
        if not kind:
            raise ValueError("a job kind is required")
        self._handlers[kind] = handler

    def get(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._handlers)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    lease_s: float = 30.0
    heartbeat_s: float | None = None  # None: a third of the lease
    poll_s: float = 1.0  # longest idle sleep between claims
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 600.0
    concurrency: int = 1
    live_lanes: int = 1  # more lanes, for LIVE_KINDS only (none when `kinds` leaves them out)
    kinds: tuple[str, ...] | None = None  # None: every registered kind
    key_prefix: str | None = None  # only jobs whose idempotency key starts so (one sync's windows)

    @property
    def heartbeat_interval(self) -> float:
        return self.heartbeat_s if self.heartbeat_s is not None else max(0.05, self.lease_s / 3)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        store: Store,
        engine: Any = None,
        *,
        registry: HandlerRegistry,
        config: WorkerConfig | None = None,
        worker_id: str | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.engine = engine
        self.registry = registry
        self.config = config or WorkerConfig()
        self.worker_id = worker_id or default_worker_id()
        self._rng = rng or random.Random()
        self._clock = clock

    def _kinds(self) -> list[str]:
        kinds = self.registry.kinds()
        if self.config.kinds is not None:
            kinds = [k for k in kinds if k in self.config.kinds]
        return kinds

    async def run_once(self, stop: asyncio.Event | None = None, *, live: bool = False) -> bool:
        """Claim and run at most one job (with `live`, of the live kinds only); False when none
        was due. Once `stop` is set, a budget wait in the job ends and the job is rescheduled for
        its slot."""
        kinds = self._kinds()
        if live:
            kinds = [kind for kind in kinds if kind in LIVE_KINDS]
        job = await self.store.claim(self.worker_id, lease_s=self.config.lease_s, kinds=kinds,
                                     key_prefix=self.config.key_prefix)
        if job is None:
            return False
        await self._run(job, stop)
        return True

    async def run(self, stop: asyncio.Event | None = None, *, max_jobs: int | None = None) -> int:
        """Loop until `stop` is set (or `max_jobs` ran); returns the number of jobs run."""
        stop = stop or asyncio.Event()
        done = 0
        lock = asyncio.Lock()

        async def lane(live: bool = False) -> None:
            nonlocal done
            idle = 0.01
            while not stop.is_set():
                async with lock:
                    if max_jobs is not None and done >= max_jobs:
                        return
                try:
                    ran = await self.run_once(stop, live=live)
                except StoreError as error:
                    log.warning("worker %s: store unavailable (%s); retrying", self.worker_id, error)
                    ran = False
                if ran:
                    async with lock:
                        done += 1
                    idle = 0.01
                    continue
                await self._idle(stop, idle)
                idle = min(idle * 2, self.config.poll_s)

        live_lanes = self.config.live_lanes if any(k in LIVE_KINDS for k in self._kinds()) else 0
        await asyncio.gather(*(lane() for _ in range(max(1, self.config.concurrency))),
                             *(lane(live=True) for _ in range(max(0, live_lanes))))
        return done

    async def _idle(self, stop: asyncio.Event, timeout_s: float) -> None:
        """Sleep up to `timeout_s`: less when the worker stops or (if the store can tell) a job
        is queued meanwhile."""
        queued = getattr(self.store, "wait_for_job", None)
        if queued is None:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=timeout_s)
            return
        waits = {asyncio.ensure_future(queued(timeout_s)), asyncio.ensure_future(stop.wait())}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                if not wait.done():
                    wait.cancel()
                    with suppress(asyncio.CancelledError):
                        await wait

    async def _run(self, job: Job, stop: asyncio.Event | None = None) -> None:
        handler = self.registry.get(job.kind)
        if handler is None:  # claimed by kind, so only if the registry changed meanwhile
            await self._fail(job, f"no handler for job kind {job.kind!r}", retry_in=self.config.lease_s)
            return
        payload = job.payload
        started = time.monotonic()
        # The task copies the context as it is created: every line the handler logs carries these.
        with log_context(job_id=job.id, vendor=job.vendor, user=job.user_id,
                         event_id=payload.get("event_id"), trace_id=payload.get("trace_id") or new_trace_id()), \
                end_budget_waits_on(stop), budget_priority(job.priority):
            task = asyncio.create_task(handler(job, self.engine))
        try:
            lost = await self._watch(job, task)
        except asyncio.CancelledError:  # the worker is shutting down: the lease will lapse
            task.cancel()
            raise
        if lost:
            log.warning("worker %s lost the lease of job %s; abandoned", self.worker_id, job.id)
            return
        error = task.exception() if not task.cancelled() else asyncio.CancelledError()
        metrics = getattr(self.engine, "metrics", None)
        if metrics is not None:
            metrics.job_finished(job.kind, _left_as(job, error), time.monotonic() - started)
        if error is None:
            await self.store.ack(job.id, self.worker_id)
            return
        if isinstance(error, PermanentJobError):
            await self.store.fail(job.id, self.worker_id, _describe(error), permanent=True)
        elif isinstance(error, Reschedule):
            await self.store.release(job.id, self.worker_id, run_at=self._clock() + error.delay_s)
            log.info("job %s (%s) waits %.0fs without using an attempt: %s", job.id, job.kind,
                     error.delay_s, error)
        elif isinstance(error, RetryLater):
            await self._fail(job, _describe(error), retry_in=error.delay_s)
        else:
            # `attempts` counts this claim too: the first retry is retry number 0.
            delay = full_jitter(job.attempts - 1, self.config.backoff_base_s,
                                self.config.backoff_cap_s, self._rng.random)
            await self._fail(job, _describe(error), retry_in=delay)

    async def _watch(self, job: Job, task: asyncio.Task[None]) -> bool:
        """Heartbeat until the task ends; True when the lease was lost (the task is cancelled)."""
        interval = self.config.heartbeat_interval
        while True:
            finished, _ = await asyncio.wait({task}, timeout=interval)
            if finished:
                return False
            try:
                held = await self.store.heartbeat(job.id, self.worker_id, lease_s=self.config.lease_s)
            except StoreError:
                continue  # keep working; the lease may still be ours when the store answers
            if not held:
                task.cancel()
                with suppress(BaseException):
                    await task
                return True

    async def _fail(self, job: Job, error: str, *, retry_in: float) -> None:
        state = await self.store.fail(job.id, self.worker_id, error, retry_at=self._clock() + retry_in)
        if state == "dead":
            log.error("job %s (%s) dead after %d attempts: %s", job.id, job.kind, job.attempts, error)


def _left_as(job: Job, error: BaseException | None) -> str:
    """The state an attempt leaves its job in, as the metrics name it."""
    if error is None:
        return "done"
    if isinstance(error, PermanentJobError):
        return "failed"
    if isinstance(error, Reschedule):
        return "rescheduled"
    return "dead" if job.attempts >= job.max_attempts else "retrying"


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text[:_MAX_ERROR_CHARS]
