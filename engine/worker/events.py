"""The webhook event job: fetch, ingest, delete or disconnect as the event's route says.

An event from a delivery that is not authenticated arrives as its route's confirm step (see
`engine.worker.confirm`); the handler checks that again, so a job queued by hand or by an older
engine cannot act on a forged delivery either.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.archive.keeping import Arrival
from engine.context import EngineContext
from engine.fetch.errors import RecordGone
from engine.fetch.windows import TimeWindow, as_utc, plan_windows
from engine.jobs import PermanentJobError, WebhookEventJob
from engine.mapping.timefmt import time_parser
from engine.spec.model import DEFAULT_HORIZON_S, ListEndpoint, Spec
from engine.spec.trust import ACTING_ACTIONS, is_authenticated
from engine.store.port import Connection, Job
from engine.worker.confirm import (
    confirmed_disconnect,
    fetch_changes,
    job_trust,
    reread_delete,
    route_confirm,
)
from engine.worker.context import WorkerContext
from engine.worker.deliveries import delivered
from engine.worker.outcomes import spec_for, translating_errors
from engine.worker.sync import StoreResult, SyncService

log = logging.getLogger("engine.worker")


@translating_errors
async def handle_webhook_event(job: Job, engine: WorkerContext) -> None:
    event = WebhookEventJob.read(job.payload)
    spec = spec_for(engine, event.vendor)
    service = engine.sync
    authenticated = is_authenticated(job_trust(spec, event))
    confirm = None if authenticated else route_confirm(spec, event)
    if not authenticated and event.action in ACTING_ACTIONS and (confirm is None or confirm.kind == "fetch"):
        raise PermanentJobError(f"{event.action} from a delivery that is not authenticated needs a "
                                "confirmation step")
    logged = {"vendor": spec.id, "job_id": job.id, "event_id": event.event_id}
    if event.action == "disconnect":
        connection = await _connection_for_event(engine, spec, event)
        reason: str | None = "the delivery is authenticated"
        if confirm is not None:
            reason = await confirmed_disconnect(engine, spec, connection, confirm, service)
            if reason is None:
                log.info("vendor did not confirm the reported deauthorization; connection kept",
                         extra={**logged, "user": connection.user_id})
                return
        await engine.store.purge_tokens(spec.id, connection.user_id, status="revoked")
        await engine.store.delete_user_data(connection.user_id, vendor=spec.id, reason="vendor_disconnected")
        log.info("vendor reported a deauthorization",
                 extra={**logged, "user": connection.user_id, "reason": reason})
        return
    resource = _required(event.resource, "resource")
    service.resource(spec, resource)
    user_id = (await _connection_for_event(engine, spec, event)).user_id
    logged.update(user=user_id, resource=resource)
    if event.action == "delete":
        if confirm is not None:
            outcome = await reread_delete(service, spec, resource, user_id, _required(event.object_id, "object_id"))
            if isinstance(outcome, StoreResult):
                log.info("delete not confirmed: the vendor still has the record", extra=logged)
                await delivered(engine, spec, user_id, resource, outcome.span, outcome.records)
                return
            marked = outcome
        elif (event.by or "id") == "window":
            marked = await service.tombstone_window(
                spec, resource, user_id, _instant_inclusive(_event_window(spec, event.window)),
                stored_before=event.received_at)
        else:
            marked = await service.tombstone(spec, resource, user_id, _required(event.object_id, "object_id"))
        log.info("tombstoned", extra={**logged, "samples": marked})
        return
    if event.action == "ingest":
        result: StoreResult | None = await service.store_records(
            spec, resource, user_id, _inline_records(spec, resource, event.data),
            arrival=Arrival("push", job_trust(spec, event)))
    elif event.action == "fetch":
        now = datetime.fromtimestamp(engine.clock(), UTC)
        result = await _fetch_for_event(service, spec, resource, user_id, event, logged, now)
    else:
        raise PermanentJobError(f"unknown event action {event.action!r}")
    if result is None:
        return
    await delivered(engine, spec, user_id, resource, result.span, result.records)
    log.info("event stored", extra={**logged, "records": result.records, "samples": result.written})


async def _fetch_for_event(service: SyncService, spec: Spec, resource: str, user_id: str,
                           event: WebhookEventJob, logged: dict[str, Any],
                           now: datetime) -> StoreResult | None:
    """Read what the event points at; None when the record was gone and has been tombstoned."""
    by = event.by or "id"
    if by == "changes":
        return await fetch_changes(service, spec, resource, user_id, event)
    caller = await service.caller(spec, user_id)
    fetcher = service.fetcher(spec)
    if by == "id":
        object_id = _required(event.object_id, "object_id")
        try:
            records = await fetcher.get(caller, spec.resources[resource], object_id)
        except RecordGone:
            # The object was deleted before we fetched it: the event is settled by a tombstone.
            marked = await service.tombstone(spec, resource, user_id, object_id)
            log.info("record gone at the vendor; tombstoned", extra={**logged, "samples": marked})
            return None
        return await service.store_records(spec, resource, user_id, records)
    if by == "callback_url":
        url = _required(event.callback_url, "callback_url")
        return await service.store_records(spec, resource, user_id,
                                           await fetcher.get_url(caller, spec.resources[resource], url))
    if by == "window":
        endpoint = spec.resources[resource].list
        event_window = _within_history(_event_window(spec, event.window), endpoint, now)
        result = StoreResult(0, 0, 0)
        if event_window is None:
            log.info("event window outside the history horizon; nothing to read", extra=logged)
            return result
        for window in plan_windows(event_window.start, event_window.end, endpoint.window if endpoint else None):
            result = result.plus(await service.run_window(spec, user_id, resource, window, caller=caller,
                                                          advance_cursor=False))
        return result
    raise PermanentJobError(f"unknown fetch mode {by!r}")


def _required(value: str | None, name: str) -> str:
    if value is None:
        raise PermanentJobError(f"job payload has no {name!r}")
    return value


async def _connection_for_event(engine: EngineContext, spec: Spec, event: WebhookEventJob) -> Connection:
    if event.user_id:
        connection = await engine.store.get_connection(spec.id, event.user_id)
    elif event.vendor_user_id:
        connection = await engine.store.get_connection_by_vendor_user(spec.id, event.vendor_user_id)
    else:
        raise PermanentJobError("the event names no user")
    if connection is None:
        raise PermanentJobError(f"no {spec.id} connection for the event's user")
    return connection


def _event_window(spec: Spec, raw: dict | None) -> TimeWindow:
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


def _within_history(window: TimeWindow, endpoint: ListEndpoint | None, now: datetime) -> TimeWindow | None:
    """The part of an event's range a re-read may cover: within the resource's history horizon and
    not past tomorrow, so an event naming decades costs no more than a horizon's worth of reads."""
    horizon_s = endpoint.horizon_s if endpoint is not None else DEFAULT_HORIZON_S
    start = max(window.start, now - timedelta(seconds=horizon_s))
    end = min(window.end, now + timedelta(days=1))
    return TimeWindow(start, end) if end > start else None


def _instant_inclusive(window: TimeWindow) -> TimeWindow:
    """A range that names one instant (start == end) covers the samples at that instant."""
    if window.end > window.start:
        return window
    return TimeWindow(window.start, window.start + timedelta(microseconds=1))


def _inline_records(spec: Spec, resource: str, data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    endpoint = spec.resources[resource].list
    if isinstance(data, dict) and endpoint is not None:
        found = endpoint.records.search(data)
        if isinstance(found, list):
            return found
    return [data] if isinstance(data, dict) else []
