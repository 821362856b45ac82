"""The engine's job handlers: one per job kind (`HANDLERS`), each reading its typed payload from
`engine.jobs`. The webhook event handler lives in `engine.worker.events`; how errors become retry
signals, in `engine.worker.outcomes`."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from engine.archive.keeping import CHANNELS, Arrival
from engine.context import EngineContext
from engine.errors import EngineError
from engine.fetch.windows import TimeWindow
from engine.jobs import (
    InitialSyncJob,
    JobKind,
    PermanentJobError,
    PollJob,
    RenewSubscriptionJob,
    Reschedule,
    SyncWindowJob,
    TokenRefreshJob,
)
from engine.spec.model import Spec
from engine.store.port import Connection, Job, JobSpec
from engine.subscriptions.app import AppSubscriptionManager
from engine.worker.context import WorkerContext
from engine.worker.deliveries import await_delivery
from engine.worker.events import handle_webhook_event
from engine.worker.outcomes import JobHandler, spec_for, translating_errors

log = logging.getLogger("engine.worker")


@translating_errors
async def _run_sync_window(job: Job, engine: WorkerContext) -> None:
    payload = SyncWindowJob.read(job.payload)
    spec = spec_for(engine, payload.vendor)
    try:
        window = TimeWindow.from_payload(payload.window)
    except (KeyError, TypeError, ValueError):
        raise PermanentJobError("job payload has no readable window") from None
    arrival = Arrival(payload.channel if payload.channel in CHANNELS else "manual_sync")
    result = await engine.sync.run_window(spec, payload.user_id, payload.resource, window, arrival=arrival,
                                          replace=payload.replace)
    if result.accepted:
        await await_delivery(engine, spec, payload.user_id, payload.resource, window, payload.sync_id)
    else:
        await engine.store.record_connection_activity(spec.id, payload.user_id, last_pull_at=engine.clock())
        if payload.sync_id:
            await engine.store.update_sync(payload.sync_id, add_windows_done=1, add_records=result.records)
            await engine.store.note_sync_window(  # sync.progress; sync.completed after the last
                payload.sync_id, vendor=spec.id, user_id=payload.user_id, resource=payload.resource,
                window_key=job.idempotency_key or job.id, records=result.records)
    log.info("window stored", extra={"vendor": spec.id, "user": payload.user_id, "resource": payload.resource,
                                     "records": result.records, "samples": result.written,
                                     "job_id": job.id, "sync_id": payload.sync_id})


async def handle_sync_window(job: Job, engine: WorkerContext) -> None:
    try:
        await _run_sync_window(job, engine)
    except PermanentJobError as error:
        await _count_failed_window(job, engine, str(error))
        raise
    except Reschedule:
        raise  # not a failure: the window runs again for the budget's slot
    except Exception as error:
        if job.attempts >= job.max_attempts:  # the store dead-letters this one
            await _count_failed_window(job, engine, f"{type(error).__name__}: {error}")
        raise


async def _count_failed_window(job: Job, engine: EngineContext, message: str) -> None:
    sync_id = job.payload.get("sync_id")
    if isinstance(sync_id, str) and sync_id:
        await engine.store.update_sync(sync_id, add_windows_done=1, add_errors=1, last_error=message[:500])
        if job.user_id and job.vendor and isinstance(job.payload.get("resource"), str):
            await engine.store.note_sync_window(sync_id, vendor=job.vendor, user_id=job.user_id,
                                                resource=job.payload["resource"],
                                                window_key=job.idempotency_key or job.id, failed=True)


@translating_errors
async def handle_poll(job: Job, engine: WorkerContext) -> None:
    payload = PollJob.read(job.payload)
    spec = spec_for(engine, payload.vendor)
    result = await engine.sync.run_poll(spec, payload.user_id, payload.resource)
    log.info("poll stored", extra={"vendor": spec.id, "user": payload.user_id, "resource": payload.resource,
                                   "records": result.records, "samples": result.written, "job_id": job.id})


@translating_errors
async def handle_initial_sync(job: Job, engine: WorkerContext) -> None:
    payload = InitialSyncJob.read(job.payload)
    spec = spec_for(engine, payload.vendor)
    if spec.initial_sync_days > 0:
        await engine.sync.plan_initial(spec.id, payload.user_id)


@translating_errors
async def handle_token_refresh(job: Job, engine: EngineContext) -> None:
    payload = TokenRefreshJob.read(job.payload)
    spec = spec_for(engine, payload.vendor)
    connection = await engine.store.get_connection(spec.id, payload.user_id)
    if connection is None or connection.status != "active" or not connection.refresh_token:
        return  # nothing to keep alive
    if payload.token_version is not None and connection.token_version != payload.token_version:
        return  # refreshed meanwhile
    await engine.oauth.fresh_connection(spec.id, payload.user_id, force=True)


async def handle_renew(job: Job, engine: EngineContext) -> None:
    payload = RenewSubscriptionJob.read(job.payload)
    try:
        renewed = await AppSubscriptionManager(engine).renew(payload.vendor,
                                                             subscription_id=payload.subscription_id)
    except EngineError as error:
        if error.status < 500:
            raise PermanentJobError(error.message) from None
        raise
    log.info("app subscription renewed", extra={
        "vendor": payload.vendor, "subscription_id": payload.subscription_id,
        "expires_at": renewed[0].expires_at if renewed else None})


def initial_sync_job(vendor: str, user_id: str, token_version: int) -> JobSpec:
    return JobSpec(kind=JobKind.INITIAL_SYNC, payload=InitialSyncJob(vendor, user_id).to_payload(),
                   idempotency_key=f"initial\x1f{vendor}\x1f{user_id}\x1f{token_version}",
                   vendor=vendor, user_id=user_id)


HANDLERS: Mapping[str, JobHandler] = {
    JobKind.WEBHOOK_EVENT: handle_webhook_event,
    JobKind.SYNC_WINDOW: handle_sync_window,
    JobKind.POLL: handle_poll,
    JobKind.INITIAL_SYNC: handle_initial_sync,
    JobKind.TOKEN_REFRESH: handle_token_refresh,
    JobKind.RENEW_SUBSCRIPTION: handle_renew,
}


def queue_initial_syncs(engine: EngineContext) -> None:
    """Give every new connection an initial sync (spec default days), queued as a job, unless the
    engine runs with ENGINE_INITIAL_SYNC=0."""

    async def on_connected(spec: Spec, connection: Connection) -> None:
        if spec.initial_sync_days > 0 and engine.settings.initial_sync:
            await engine.store.enqueue(
                initial_sync_job(spec.id, connection.user_id, connection.token_version))

    engine.oauth.on_connected(on_connected)
