"""Route extracted events by the spec's `on` table and shape the jobs they become.

Every event is kept in the inbox; only routed events get a job. An unknown event type, an
`ignore` route or a `when` that does not hold leaves the event stored without a job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from engine.spec.model import Route, Spec
from engine.webhooks.events import WebhookEvent

JOB_KIND = "webhook_event"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True, slots=True)
class RoutedJob:
    route: Route
    payload: dict[str, Any]


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
    for route in routes:
        if route.when is not None and not _truthy(route.when.search(event.item)):
            continue
        if route.action == "ignore":
            notes.append("ignored by the spec")
            continue
        if route.action == "fetch" and route.by == "callback_url":
            problem = callback_problem(event.callback_url, spec.api.hosts)
            if problem:
                notes.append(problem)
                continue
        jobs.append(RoutedJob(route, job_payload(event, route, received_at)))
    note = None if jobs else ("; ".join(notes) or "no route matched")
    return RoutingResult(jobs, note)


def job_payload(event: WebhookEvent, route: Route, received_at: float) -> dict[str, Any]:
    window = None
    if event.window_start or event.window_end:
        window = {"start": event.window_start, "end": event.window_end}
    return {
        "vendor": event.vendor,
        "event_key": event.key,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "vendor_user_id": event.vendor_user_id,
        "object_id": event.object_id,
        "action": route.action,
        "resource": route.resource,
        "by": route.by,
        "window": window,
        "callback_url": event.callback_url,
        "data": event.data,
        "received_at": received_at,
    }


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
