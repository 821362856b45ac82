"""The engine's job handlers: webhook events, sync windows, polls, initial syncs, token refresh.

A handler turns engine errors into the runner's signals: `PermanentJobError` when running the
job again cannot help (the vendor refused the request, the connection is gone or needs consent),
`RetryLater` when the vendor said when to come back and `Reschedule` when the job only waits for
the app's rate budget (no attempt is used). Anything else is retried with backoff and
dead-lettered, with its last error, once the attempts are used up.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.errors import EngineError, NotFound, TokenError, Unavailable
from engine.fetch.errors import BudgetExhausted, FetchError, RecordGone
from engine.fetch.windows import TimeWindow, as_utc, plan_windows
from engine.mapping.timefmt import time_parser
from engine.spec.model import Spec
from engine.spec.trust import ACTING_ACTIONS, is_authenticated
from engine.store.port import Connection, Job, JobSpec
from engine.subscriptions.renewals import RENEW_JOB, handle_renew
from engine.worker.confirm import (
    confirmed_disconnect,
    fetch_changes,
    job_trust,
    reread_delete,
    route_confirm,
)
from engine.worker.deliveries import await_delivery, delivered
from engine.worker.runner import (
    REGISTRY,
    HandlerRegistry,
    PermanentJobError,
    Reschedule,
    RetryLater,
)
from engine.worker.sync import POLL_JOB, SYNC_WINDOW_JOB, StoreResult, SyncService, sync_service

log = logging.getLogger("engine.worker")

WEBHOOK_EVENT_JOB = "webhook_event"
INITIAL_SYNC_JOB = "sync_initial"
TOKEN_REFRESH_JOB = "token_refresh"

JobHandler = Callable[[Job, Any], Awaitable[None]]


def _payload_str(job: Job, key: str, *, required: bool = True) -> str | None:
    value = job.payload.get(key)
    if value is None or value == "":
        if required:
            raise PermanentJobError(f"job payload has no {key!r}")
        return None
    if isinstance(value, (dict, list)):
        raise PermanentJobError(f"job payload {key!r} must be a string")
    return str(value)


def _spec(engine: Any, job: Job) -> Spec:
    vendor = _payload_str(job, "vendor")
    try:
        return engine.spec(vendor)
    except EngineError as error:
        raise PermanentJobError(error.message) from None


def translating_errors(handler: JobHandler) -> JobHandler:
    """Map engine errors onto the runner's retry semantics and log the outcome."""

    @functools.wraps(handler)
    async def run(job: Job, engine: Any) -> None:
        context = {"job_id": job.id, "kind": job.kind, "vendor": job.vendor, "user": job.user_id,
                   "event_id": job.payload.get("event_id")}
        try:
            await handler(job, engine)
        except (PermanentJobError, RetryLater):
            raise
        except BudgetExhausted as error:
            # Waiting for the app's rate budget is not a failure: back to the queue for the slot,
            # without using an attempt.
            log.info("job waits for the rate budget", extra={**context, "error": error.message})
            raise Reschedule(error.message, error.retry_after or 1.0) from None
        except FetchError as error:
            if error.retryable:
                log.warning("job attempt failed", extra={**context, "error": error.message})
                if error.retry_after is not None:
                    raise RetryLater(error.message, error.retry_after) from None
                raise
            raise PermanentJobError(error.message) from None
        except (TokenError, NotFound) as error:
            raise PermanentJobError(error.message) from None
        except Unavailable as error:
            raise RetryLater(error.message, error.retry_after or 5.0) from None
        except EngineError as error:
            if error.status < 500:
                raise PermanentJobError(error.message) from None
            raise

    return run


# --------------------------------------------------------------------------- webhook events


async def _connection_for_event(engine: Any, spec: Spec, job: Job) -> Connection:
    store = engine.store
    user_id = _payload_str(job, "user_id", required=False)
    if user_id:
        connection = await store.get_connection(spec.id, user_id)
    else:
        vendor_user = _payload_str(job, "vendor_user_id", required=False)
        if vendor_user is None:
            raise PermanentJobError("the event names no user")
        connection = await store.get_connection_by_vendor_user(spec.id, vendor_user)
    if connection is None:
        raise PermanentJobError(f"no {spec.id} connection for the event's user")
    return connection


def _event_window(spec: Spec, raw: Any) -> TimeWindow:
    if not isinstance(raw, dict):
        raise PermanentJobError("a route by window needs the event's window start and end")
    formats = [e.time_format for e in (spec.webhooks.events if spec.webhooks else ())] or ["iso"]
    bounds: list[datetime] = []
    for key in ("start", "end"):
        value = raw.get(key)
        parsed = None
        for fmt in formats:
            parsed = time_parser(fmt)(value)
            if parsed is not None:
                break
        if parsed is None:
            raise PermanentJobError(f"the event's window {key} {str(value)[:40]!r} is not a time")
        if key == "end" and fmt == "date":
            parsed += timedelta(days=1)  # an end date names a whole day
        bounds.append(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    return TimeWindow(as_utc(bounds[0]), as_utc(bounds[1]))


def _instant_inclusive(window: TimeWindow) -> TimeWindow:
    """A range that names one instant (start == end) covers the samples at that instant."""
    if window.end > window.start:
        return window
    return TimeWindow(window.start, window.start + timedelta(microseconds=1))


def _received_at(job: Job) -> float | None:
    """When the delivery arrived: a window delete keeps samples a re-read stored after that."""
    value = job.payload.get("received_at")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _inline_records(spec: Spec, resource: str, data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    endpoint = spec.resources[resource].list
    if isinstance(data, dict) and endpoint is not None:
        found = endpoint.records.search(data)
        if isinstance(found, list):
            return found
    return [data] if isinstance(data, dict) else []


@translating_errors
async def handle_webhook_event(job: Job, engine: Any) -> None:
    spec = _spec(engine, job)
    service = sync_service(engine)
    action = job.payload.get("action")
    authenticated = is_authenticated(job_trust(spec, job))
    confirm = None if authenticated else route_confirm(spec, job)
    if not authenticated and action in ACTING_ACTIONS and (confirm is None or confirm.kind == "fetch"):
        raise PermanentJobError(f"{action} from a delivery that is not authenticated needs a "
                                "confirmation step")
    if action == "disconnect":
        connection = await _connection_for_event(engine, spec, job)
        reason = "the delivery is authenticated"
        if confirm is not None:
            reason = await confirmed_disconnect(engine, spec, connection, confirm, service)
            if reason is None:
                log.info("vendor did not confirm the reported deauthorization; connection kept",
                         extra={"vendor": spec.id, "user": connection.user_id, "job_id": job.id})
                return
        await engine.store.purge_tokens(spec.id, connection.user_id, status="revoked")
        log.info("vendor reported a deauthorization",
                 extra={"vendor": spec.id, "user": connection.user_id, "reason": reason})
        return
    resource = _payload_str(job, "resource")
    service.resource(spec, resource)
    connection = await _connection_for_event(engine, spec, job)
    user_id = connection.user_id
    result = StoreResult(0, 0, 0)
    if action == "delete":
        if confirm is not None:
            outcome = await reread_delete(service, spec, resource, user_id, _payload_str(job, "object_id"))
            if isinstance(outcome, StoreResult):
                log.info("delete not confirmed: the vendor still has the record",
                         extra={"vendor": spec.id, "user": user_id, "resource": resource, "job_id": job.id})
                await delivered(engine, spec, user_id, resource, outcome.span, outcome.records)
                return
            marked = outcome
        elif (job.payload.get("by") or "id") == "window":
            marked = await service.tombstone_window(
                spec, resource, user_id, _instant_inclusive(_event_window(spec, job.payload.get("window"))),
                stored_before=_received_at(job))
        else:
            marked = await service.tombstone(spec, resource, user_id, _payload_str(job, "object_id"))
        log.info("tombstoned", extra={"vendor": spec.id, "user": user_id, "resource": resource,
                                      "samples": marked, "job_id": job.id})
        return
    if action == "ingest":
        records = _inline_records(spec, resource, job.payload.get("data"))
        result = await service.store_records(spec, resource, user_id, records)
    elif action == "fetch":
        result = await _fetch_for_event(engine, service, spec, resource, user_id, job)
        if result is None:
            return
    else:
        raise PermanentJobError(f"unknown event action {action!r}")
    await delivered(engine, spec, user_id, resource, result.span, result.records)
    log.info("event stored", extra={"vendor": spec.id, "user": user_id, "resource": resource,
                                    "records": result.records, "samples": result.written, "job_id": job.id,
                                    "event_id": job.payload.get("event_id")})


async def _fetch_for_event(engine: Any, service: SyncService, spec: Spec, resource: str, user_id: str,
                           job: Job) -> StoreResult | None:
    """Read what the event points at; None when the record was gone and has been tombstoned."""
    by = job.payload.get("by") or "id"
    if by == "changes":
        return await fetch_changes(service, spec, resource, user_id, job)
    caller = await service.caller(spec, user_id)
    fetcher = service.fetcher(spec)
    if by == "id":
        object_id = _payload_str(job, "object_id")
        try:
            records = await fetcher.get(caller, spec.resources[resource], object_id)
        except RecordGone:
            # The object was deleted before we fetched it: the event is settled by a tombstone.
            marked = await service.tombstone(spec, resource, user_id, object_id)
            log.info("record gone at the vendor; tombstoned",
                     extra={"vendor": spec.id, "user": user_id, "resource": resource,
                            "samples": marked, "job_id": job.id, "event_id": job.payload.get("event_id")})
            return None
        return await service.store_records(spec, resource, user_id, records)
    if by == "callback_url":
        records = await fetcher.get_url(caller, spec.resources[resource], _payload_str(job, "callback_url"))
        return await service.store_records(spec, resource, user_id, records)
    if by == "window":
        event_window = _event_window(spec, job.payload.get("window"))
        endpoint = spec.resources[resource].list
        result = StoreResult(0, 0, 0)
        for window in plan_windows(event_window.start, event_window.end, endpoint.window if endpoint else None):
            result = result.plus(await service.run_window(spec, user_id, resource, window, caller=caller,
                                                          advance_cursor=False))
        return result
    raise PermanentJobError(f"unknown fetch mode {by!r}")


# --------------------------------------------------------------------------- syncs


@translating_errors
async def _run_sync_window(job: Job, engine: Any) -> None:
    spec = _spec(engine, job)
    user_id = _payload_str(job, "user_id")
    resource = _payload_str(job, "resource")
    try:
        window = TimeWindow.from_payload(job.payload.get("window") or {})
    except (KeyError, TypeError, ValueError):
        raise PermanentJobError("job payload has no readable window") from None
    result = await sync_service(engine).run_window(spec, user_id, resource, window)
    sync_id = job.payload.get("sync_id")
    if result.accepted:
        await await_delivery(engine, spec, user_id, resource, window, str(sync_id) if sync_id else None)
    elif sync_id:
        await engine.store.update_sync(str(sync_id), add_windows_done=1, add_records=result.records)
    log.info("window stored", extra={"vendor": spec.id, "user": user_id, "resource": resource,
                                     "records": result.records, "samples": result.written,
                                     "job_id": job.id, "sync_id": sync_id})


async def handle_sync_window(job: Job, engine: Any) -> None:
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


async def _count_failed_window(job: Job, engine: Any, message: str) -> None:
    sync_id = job.payload.get("sync_id")
    if sync_id:
        await engine.store.update_sync(str(sync_id), add_windows_done=1, add_errors=1,
                                       last_error=message[:500])


@translating_errors
async def handle_poll(job: Job, engine: Any) -> None:
    spec = _spec(engine, job)
    user_id = _payload_str(job, "user_id")
    resource = _payload_str(job, "resource")
    result = await sync_service(engine).run_poll(spec, user_id, resource)
    log.info("poll stored", extra={"vendor": spec.id, "user": user_id, "resource": resource,
                                   "records": result.records, "samples": result.written, "job_id": job.id})


@translating_errors
async def handle_initial_sync(job: Job, engine: Any) -> None:
    spec = _spec(engine, job)
    user_id = _payload_str(job, "user_id")
    if spec.initial_sync_days <= 0:
        return
    await sync_service(engine).plan_initial(spec.id, user_id)


@translating_errors
async def handle_token_refresh(job: Job, engine: Any) -> None:
    spec = _spec(engine, job)
    user_id = _payload_str(job, "user_id")
    connection = await engine.store.get_connection(spec.id, user_id)
    if connection is None or connection.status != "active" or not connection.refresh_token:
        return  # nothing to keep alive
    if connection.token_version != job.payload.get("token_version", connection.token_version):
        return  # refreshed meanwhile
    await engine.oauth.fresh_connection(spec.id, user_id, force=True)


def initial_sync_job(vendor: str, user_id: str, token_version: int) -> JobSpec:
    return JobSpec(kind=INITIAL_SYNC_JOB, payload={"vendor": vendor, "user_id": user_id},
                   idempotency_key=f"initial\x1f{vendor}\x1f{user_id}\x1f{token_version}",
                   vendor=vendor, user_id=user_id)


HANDLERS: dict[str, JobHandler] = {
    WEBHOOK_EVENT_JOB: handle_webhook_event,
    SYNC_WINDOW_JOB: handle_sync_window,
    POLL_JOB: handle_poll,
    INITIAL_SYNC_JOB: handle_initial_sync,
    TOKEN_REFRESH_JOB: handle_token_refresh,
    RENEW_JOB: handle_renew,
}


def register_all(registry: HandlerRegistry = REGISTRY) -> None:
    for kind, handler in HANDLERS.items():
        registry.register(kind, handler)


_installed: weakref.WeakSet[Any] = weakref.WeakSet()


def install(engine: Any) -> None:
    """Give every new connection an initial sync (spec default days), queued as a job, unless the
    engine runs with ENGINE_INITIAL_SYNC=0. Call once the engine is open; calling again does
    nothing."""
    if engine in _installed:
        return
    _installed.add(engine)

    async def on_connected(spec: Spec, connection: Connection) -> None:
        if spec.initial_sync_days > 0 and engine.settings.initial_sync:
            await engine.store.enqueue(
                initial_sync_job(spec.id, connection.user_id, connection.token_version))

    engine.oauth.on_connected(on_connected)


register_all()
