"""Confirmation steps: what an event from a delivery that is not authenticated may cause.

Such an event only makes the engine read from the vendor with the user's own token. A delete
holds for what the vendor no longer has (404/410); a disconnect holds when the vendor refuses the
user's token (a refused refresh, or a request answered 401 after a refresh or 403) or answers so
that the spec's `when` holds. Anything else leaves the connection and its samples as they were.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from engine.context import EngineContext
from engine.errors import TokenError
from engine.fetch.errors import AccessRefused, ReauthRequired, RecordGone
from engine.fetch.windows import plan_windows
from engine.jobs import PermanentJobError, WebhookEventJob
from engine.spec.model import Confirm, Spec
from engine.spec.trust import LEVELS, TrustLevel, weaker
from engine.store.port import Connection
from engine.worker.sync import StoreResult, SyncService

log = logging.getLogger("engine.worker")

# A re-read by arrival reaches this far past the delivery: the vendor's clock and ours differ, and
# a time in whole seconds would otherwise cut off the last fraction of one.
ARRIVAL_SLACK_S = 60.0


def job_trust(spec: Spec, event: WebhookEventJob) -> TrustLevel:
    """The weaker of what the job says and what the spec now derives: a spec whose verification
    was weakened since the event arrived does not let an older job act."""
    spec_level = spec.webhooks.trust if spec.webhooks is not None else "unauthenticated"
    claimed = event.trust or spec_level
    return weaker(claimed if claimed in LEVELS else "unauthenticated", spec_level)


def route_confirm(spec: Spec, event: WebhookEventJob) -> Confirm | None:
    """The confirm step of the route that made the job (its event type and position)."""
    routes = spec.webhooks.routes.get(event.event_type or "") if spec.webhooks else None
    index = event.route_index
    if routes is None or index is None or not 0 <= index < len(routes):
        return None
    return routes[index].confirm


async def confirmed_disconnect(engine: EngineContext, spec: Spec, connection: Connection, confirm: Confirm,
                               service: SyncService) -> str | None:
    """Why the vendor confirms the user is gone, or None when it does not."""
    user_id = connection.user_id
    if confirm.kind == "token":
        try:
            await engine.oauth.fresh_connection(spec.id, user_id, force=True)
        except TokenError as error:
            return f"the vendor refused a token refresh ({error.code})"
        return None
    if confirm.kind != "request" or confirm.request is None:
        raise PermanentJobError(f"a disconnect cannot be confirmed by {confirm.kind!r}")
    caller = await service.caller(spec, user_id)
    try:
        body = await service.fetcher(spec).call(caller, confirm.request)
    except (ReauthRequired, TokenError):
        return "the vendor refused the user's token"
    except AccessRefused:
        return "the vendor refused access with the user's token (403)"
    if confirm.when is not None and confirm.when.search(body) not in (None, False, "", [], {}):
        return "the vendor's answer says the user is gone"
    return None


async def reread_delete(service: SyncService, spec: Spec, resource: str, user_id: str,
                        object_id: str) -> StoreResult | int:
    """Re-read the record the delete names: tombstone it (the count) if the vendor answers 404 or
    410, else store what the vendor still has."""
    caller = await service.caller(spec, user_id)
    try:
        records = await service.fetcher(spec).get(caller, spec.resources[resource], object_id)
    except RecordGone:
        return await service.tombstone(spec, resource, user_id, object_id)
    return await service.store_records(spec, resource, user_id, records)


async def fetch_changes(service: SyncService, spec: Spec, resource: str, user_id: str,
                        event: WebhookEventJob) -> StoreResult:
    """Re-read what the vendor received shortly before the delivery arrived (its `changes`
    listing), instead of storing what the delivery carried."""
    received, lookback = event.received_at, event.lookback_s
    if received is None or lookback is None:
        raise PermanentJobError("a re-read by changes needs the delivery's arrival time")
    arrived = datetime.fromtimestamp(float(received), UTC)
    end = arrived + timedelta(seconds=ARRIVAL_SLACK_S)
    endpoint = spec.resources[resource].changes
    if endpoint is None:
        raise PermanentJobError(f"resource {resource!r} has no changes listing")
    caller = await service.caller(spec, user_id)
    result = StoreResult(0, 0, 0)
    for window in plan_windows(end - timedelta(seconds=float(lookback)), end, endpoint.window):
        part = await service.run_window(spec, user_id, resource, window, caller=caller,
                                        advance_cursor=False, changes=True)
        result = result.plus(part)
    return result
