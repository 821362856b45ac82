"""The customer's endpoints as configuration: what a valid one is (a 400 naming the field
otherwise), and the operations the API and `engine endpoints` share. A secret is returned once,
when it is made; listings never show one."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from engine.errors import BadRequest, NotFound
from engine.outbound.config import OutboundConfig
from engine.outbound.guard import Resolver, lookup, refused, resolve
from engine.outbound.signing import new_secret
from engine.store.outbox_records import EVENT_TYPES, Delivery, Endpoint
from engine.store.port import Store

MAX_URL = 2048
MAX_DESCRIPTION = 500
DEFAULT_OVERLAP_S = 86400.0
MAX_OVERLAP_S = 30 * 86400.0


class InvalidEndpoint(BadRequest):
    code = "invalid_endpoint"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "field": self.field}


async def check_url(url: Any, *, allow_private: bool, resolver: Resolver = lookup) -> list[str]:
    """Refuse a malformed URL, a scheme other than https (http too with `allow_private`) and a
    host resolving to a non-public address; a host that does not resolve now is a warning."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise InvalidEndpoint("url", f"must be an absolute URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidEndpoint("url", "is not a valid URL") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise InvalidEndpoint("url", "must use https" + ("" if allow_private else
                              " (http only with ENGINE_OUTBOUND_ALLOW_PRIVATE=1)"))
    if not parts.hostname or parts.username is not None or parts.password is not None or parts.fragment:
        raise InvalidEndpoint("url", "needs a host, and no user, password or #fragment")
    if any(ch.isspace() for ch in url):
        raise InvalidEndpoint("url", "must not contain white space")
    try:
        addresses = await resolve(parts.hostname, port or (443 if parts.scheme == "https" else 80), resolver)
    except (OSError, UnicodeError, socket.gaierror):
        return [f"{parts.hostname} does not resolve now; deliveries will try it again at each attempt"]
    bad = [] if allow_private else refused(addresses)
    if bad:
        raise InvalidEndpoint("url", f"{parts.hostname} resolves to a private, loopback or link-local "
                                     f"address ({bad[0]}); outbound requests only go to public addresses")
    return []


def read_event_types(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value) or len(value) > 32:
        raise InvalidEndpoint("event_types", "must be a list of event type names")
    unknown = [item for item in value if item not in EVENT_TYPES]
    if unknown:
        raise InvalidEndpoint("event_types", f"unknown event type {unknown[0][:64]!r}; one of "
                                             + ", ".join(EVENT_TYPES))
    return tuple(dict.fromkeys(value))


def _flag(body: Mapping[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidEndpoint(key, "must be true or false")
    return value


def _description(body: Mapping[str, Any]) -> str | None:
    value = body.get("description")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_DESCRIPTION):
        raise InvalidEndpoint("description", f"must be a string of at most {MAX_DESCRIPTION} characters")
    return value


def describe(endpoint: Endpoint, counts: Mapping[str, int] | None = None) -> dict[str, Any]:
    """An endpoint as the API shows it: never its secrets."""
    shown: dict[str, Any] = {
        "id": endpoint.id, "url": endpoint.url, "event_types": list(endpoint.event_types) or ["*"],
        "include_remap": endpoint.include_remap, "description": endpoint.description,
        "status": endpoint.status, "paused_reason": endpoint.paused_reason,
        "consecutive_failures": endpoint.consecutive_failures, "failing_since": endpoint.failing_since,
        "secrets": len(endpoint.secrets), "created_at": endpoint.created_at,
    }
    if counts is not None:
        shown["deliveries"] = dict(counts)
    return shown


def describe_delivery(delivery: Delivery) -> dict[str, Any]:
    return {"event_id": delivery.event_id, "user_id": delivery.user_id or None, "state": delivery.state,
            "attempts": delivery.attempts, "next_at": delivery.next_at, "last_status": delivery.last_status,
            "last_error": delivery.last_error, "delivered_at": delivery.delivered_at}


class Endpoints:
    def __init__(self, store: Store, config: OutboundConfig) -> None:
        self.store = store
        self.config = config

    async def _get(self, endpoint_id: str) -> Endpoint:
        endpoint = await self.store.get_endpoint(endpoint_id)
        if endpoint is None:
            raise NotFound("no endpoint with this id", code="endpoint_not_found")
        return endpoint

    async def create(self, body: Mapping[str, Any]) -> tuple[Endpoint, str, list[str]]:
        unknown = sorted(set(body) - {"url", "event_types", "include_remap", "description"})
        if unknown:
            raise InvalidEndpoint(unknown[0][:64], "is not an endpoint field")
        warnings = await check_url(body.get("url"), allow_private=self.config.allow_private)
        secret = new_secret()
        endpoint = await self.store.create_endpoint(
            str(body["url"]), secret=secret, event_types=read_event_types(body.get("event_types")),
            include_remap=_flag(body, "include_remap") is not False, description=_description(body))
        return endpoint, secret, warnings

    async def get(self, endpoint_id: str) -> dict[str, Any]:
        endpoint = await self._get(endpoint_id)
        return describe(endpoint, await self.store.count_deliveries(endpoint.id))

    async def update(self, endpoint_id: str, body: Mapping[str, Any]) -> tuple[Endpoint, list[str]]:
        unknown = sorted(set(body) - {"url", "event_types", "include_remap", "description", "status"})
        if unknown:
            raise InvalidEndpoint(unknown[0][:64], "is not an endpoint field")
        await self._get(endpoint_id)
        warnings = []
        if "url" in body:
            warnings = await check_url(body["url"], allow_private=self.config.allow_private)
        status = body.get("status")
        if status is not None and status not in ("active", "paused"):
            raise InvalidEndpoint("status", "must be active (to resume) or paused")
        endpoint = await self.store.update_endpoint(
            endpoint_id, url=body.get("url"),
            event_types=read_event_types(body["event_types"]) if "event_types" in body else None,
            include_remap=_flag(body, "include_remap"), description=_description(body), status=status)
        if endpoint is None:
            raise NotFound("no endpoint with this id", code="endpoint_not_found")
        return endpoint, warnings

    async def delete(self, endpoint_id: str) -> None:
        if not await self.store.delete_endpoint(endpoint_id):
            raise NotFound("no endpoint with this id", code="endpoint_not_found")

    async def rotate(self, endpoint_id: str, overlap_s: Any = None) -> tuple[Endpoint, str]:
        overlap = DEFAULT_OVERLAP_S if overlap_s is None else overlap_s
        if isinstance(overlap, bool) or not isinstance(overlap, int | float) or not 0 <= overlap <= MAX_OVERLAP_S:
            raise InvalidEndpoint("overlap_s", f"must be a number of seconds from 0 to {MAX_OVERLAP_S:.0f}")
        secret = new_secret()
        endpoint = await self.store.rotate_endpoint_secret(endpoint_id, secret, overlap_s=float(overlap))
        if endpoint is None:
            raise NotFound("no endpoint with this id", code="endpoint_not_found")
        return endpoint, secret

    async def replay(self, endpoint_id: str, *, since: float | None = None, until: float | None = None,
                     event_id: str | None = None) -> int:
        if event_id is None and since is None:
            raise InvalidEndpoint("since", "give a time range (since, until) or one event_id")
        queued = await self.store.replay_deliveries(endpoint_id, since=since, until=until, event_id=event_id)
        if queued < 0:
            raise NotFound("no endpoint with this id", code="endpoint_not_found")
        return queued
