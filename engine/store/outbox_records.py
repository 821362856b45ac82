"""The records of outbound delivery: outbox events, the customer's endpoints and their deliveries.

Events are written by the store in the same transaction as the change they report (a sample
upsert or tombstone, a connection's status); `dispatch_outbox` later gives each its feed position
and one delivery per subscribed endpoint. Endpoint secrets are plaintext here and sealed at rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Origin = Literal["live", "backfill", "remap"]
ORIGINS: tuple[str, ...] = ("live", "backfill", "remap")

EVENT_TYPES: tuple[str, ...] = (
    "samples.changed", "connection.created", "connection.reauth_required", "connection.revoked",
    "sync.progress", "sync.completed", "delivery.failed",
)
ENDPOINT_STATUSES: tuple[str, ...] = ("active", "paused")
DELIVERY_STATES: tuple[str, ...] = ("pending", "sending", "delivered", "failed")


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: str
    seq: int | None  # the feed position, given at dispatch
    event_type: str
    user_id: str | None
    origin: str
    payload: Mapping[str, Any]
    created_at: float
    dispatched_at: float | None = None


@dataclass(frozen=True, slots=True)
class EndpointSecret:
    value: str = field(repr=False)
    expires_at: float | None = None  # None: the current secret; else kept until then (rotation)


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    url: str
    event_types: tuple[str, ...]  # empty: every event type
    include_remap: bool
    description: str | None
    secrets: tuple[EndpointSecret, ...]  # current first
    status: str
    paused_reason: str | None
    failing_since: float | None
    consecutive_failures: int
    created_at: float
    updated_at: float

    def signing_secrets(self, now: float) -> list[str]:
        """The current secret and every rotated one still inside its overlap."""
        return [s.value for s in self.secrets if s.expires_at is None or s.expires_at > now]

    def wants(self, event_type: str, origin: str) -> bool:
        if origin == "remap" and not self.include_remap:
            return False
        return not self.event_types or event_type in self.event_types


@dataclass(frozen=True, slots=True)
class Delivery:
    endpoint_id: str
    event_id: str
    seq: int
    user_id: str  # "" for an event about no user
    state: str
    attempts: int
    next_at: float
    last_status: int | None
    last_error: str | None
    created_at: float
    delivered_at: float | None


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery leased to one worker, with what it needs to send it."""

    delivery: Delivery
    event: OutboxEvent
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """What a failed attempt leads to: the retry moment (None: give up), and when the endpoint
    counts as dead (this many failures in a row, the first at least `pause_after_s` ago)."""

    retry_at: float | None
    pause_after_failures: int
    pause_after_s: float
