"""Route extracted events by the spec's `on` table and shape the jobs they become.

Every event is kept in the inbox; only routed events get a job. An unknown event type, an
`ignore` route or a `when` that does not hold leaves the event stored without a job.

A delivery that is not authenticated (see `engine.spec.trust`) is a hint, never a fact: its
ingest, delete and disconnect routes become their `confirm` steps, which only read from the
vendor with the user's token; what its body carries is never put in a job.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from engine.jobs import WebhookEventJob
from engine.spec.model import Route, Spec
from engine.spec.trust import ACTING_ACTIONS
from engine.webhooks.events import WebhookEvent

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True, slots=True)
class RoutedJob:
    route: Route
    payload: WebhookEventJob


@dataclass(frozen=True, slots=True)
class RoutingResult:
    jobs: list[RoutedJob]
    note: str | None  # why no job was made, when none was


def route_event(spec: Spec, event: WebhookEvent, *, received_at: float) -> RoutingResult:
    webhooks = spec.webhooks
    assert webhooks is not None
    routes = webhooks.routes.get(event.event_type or "")
    if routes is None:
        return RoutingResult([], "unknown event type")
    jobs: list[RoutedJob] = []
    notes: list[str] = []
    trust = webhooks.trust
    for index, route in enumerate(routes):
        if route.when is not None and not _truthy(route.when.search(event.item)):
            continue
        if route.action == "ignore":
            notes.append("ignored by the spec")
            continue
        payload = job_payload(event, route, received_at, trust)
        if trust != "authenticated" and route.action in ACTING_ACTIONS:
            confirming = _confirming(payload, route, index)
            if confirming is None:
                notes.append(f"{route.action} from a {trust} delivery has no confirmation step")
                continue
            payload = confirming
        if payload.action == "fetch" and payload.by == "callback_url":
            problem = callback_problem(event.callback_url, spec.api.hosts)
            if problem:
                notes.append(problem)
                continue
        jobs.append(RoutedJob(route, payload))
    note = None if jobs else ("; ".join(notes) or "no route matched")
    return RoutingResult(jobs, note)


def job_payload(event: WebhookEvent, route: Route, received_at: float,
                trust: str = "authenticated") -> WebhookEventJob:
    window = None
    if event.window_start or event.window_end:
        window = {"start": event.window_start, "end": event.window_end}
    return WebhookEventJob(
        vendor=event.vendor, event_key=event.key, action=route.action, trust=trust,
        received_at=received_at, event_id=event.event_id, event_type=event.event_type,
        vendor_user_id=event.vendor_user_id, object_id=event.object_id, resource=route.resource,
        by=route.by, window=window, callback_url=event.callback_url,
        # What an unauthenticated body carries never reaches a job.
        data=event.data if trust == "authenticated" else None,
    )


def _confirming(payload: WebhookEventJob, route: Route, index: int) -> WebhookEventJob | None:
    """The job a route's confirm step makes of an unauthenticated event."""
    confirm = route.confirm
    if confirm is None:
        return None
    payload = replace(payload, confirm=confirm.kind, route_index=index)
    if confirm.kind == "fetch":
        payload = replace(payload, action="fetch", resource=confirm.resource, by=confirm.by,
                          lookback_s=confirm.lookback_s)
    return payload


def callback_problem(url: str | None, hosts: frozenset[str]) -> str | None:
    """Callback URLs are fetched with the user's token, so they must point at the vendor's API."""
    if not url:
        return "event has no callback URL"
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return "callback URL is malformed"
    if parts.scheme != "https" and not (parts.scheme == "http" and host in _LOOPBACK):
        return "callback URL is not https"
    if host not in {h.lower() for h in hosts}:
        return "callback URL host is not one of the spec's API hosts"
    return None


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", [], {})  # JMESPath truthiness
