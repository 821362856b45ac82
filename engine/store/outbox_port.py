"""The outbox part of the storage port (`engine.store.port.Store` includes it): outbound
delivery's events, endpoints, deliveries and changes feed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from engine.store.outbox_records import (
    ClaimedDelivery,
    Delivery,
    DeliveryPolicy,
    Endpoint,
    OutboxEvent,
)


class OutboxStore(Protocol):
    """Outbound delivery: the outbox (written by the sample and connection writes themselves, in
    their transactions), the customer's endpoints, deliveries and the changes feed. Records are
    in `engine.store.outbox_records`."""

    def configure_outbox(self, *, enabled: bool = True, inline_samples: int = 100,
                         retention_s: float = 14 * 86400) -> None:
        """Whether changes write outbox events, how many samples an event carries inline, and how
        long finished deliveries and their events are kept (`prune` drops them after)."""

    @property
    def outbox_enabled(self) -> bool: ...

    async def add_outbox_event(
        self, event_type: str, payload: Mapping[str, Any], *, user_id: str | None = None,
        origin: str = "live", now: float | None = None,
    ) -> str:
        """Write one event on its own (returns its id)."""

    async def create_endpoint(
        self, url: str, *, secret: str, event_types: Sequence[str] = (), include_remap: bool = True,
        description: str | None = None, now: float | None = None,
    ) -> Endpoint: ...

    async def get_endpoint(self, endpoint_id: str) -> Endpoint | None: ...

    async def list_endpoints(self) -> list[Endpoint]: ...

    async def update_endpoint(
        self, endpoint_id: str, *, url: str | None = None, event_types: Sequence[str] | None = None,
        include_remap: bool | None = None, description: str | None = None,
        status: str | None = None, now: float | None = None,
    ) -> Endpoint | None: ...

    async def delete_endpoint(self, endpoint_id: str) -> bool: ...

    async def rotate_endpoint_secret(
        self, endpoint_id: str, secret: str, *, overlap_s: float, now: float | None = None
    ) -> Endpoint | None: ...

    async def dispatch_outbox(self, *, limit: int = 500, now: float | None = None) -> int:
        """Give waiting events their feed positions and their deliveries; how many."""

    async def outbox_waiting(self) -> int: ...

    async def claim_deliveries(
        self, worker_id: str, *, limit: int = 16, lease_s: float = 60.0,
        exclude_endpoints: Sequence[str] = (), endpoint_id: str | None = None,
        now: float | None = None,
    ) -> list[ClaimedDelivery]:
        """Lease due deliveries (with `endpoint_id`, only that endpoint's), each the oldest open
        one of its (endpoint, user)."""

    async def next_delivery_at(self) -> float | None: ...

    async def due_endpoints(self, *, now: float | None = None) -> list[str]:
        """The active endpoints with a delivery due (or a lapsed lease) now."""

    async def delivery_succeeded(
        self, endpoint_id: str, event_id: str, worker_id: str, *, status: int,
        now: float | None = None,
    ) -> bool: ...

    async def delivery_failed(
        self, endpoint_id: str, event_id: str, worker_id: str, *, status: int | None, error: str,
        policy: DeliveryPolicy, now: float | None = None,
    ) -> str | None: ...

    async def list_deliveries(
        self, *, endpoint_id: str | None = None, event_id: str | None = None,
        state: str | None = None, limit: int = 100,
    ) -> list[Delivery]: ...

    async def count_deliveries(self, endpoint_id: str) -> dict[str, int]: ...

    async def replay_deliveries(
        self, endpoint_id: str, *, since: float | None = None, until: float | None = None,
        event_id: str | None = None, now: float | None = None,
    ) -> int:
        """Deliver again; the number of events queued, -1 for an unknown endpoint."""

    async def list_changes(
        self, *, after_seq: int = 0, limit: int = 100, event_types: Sequence[str] | None = None,
        user_id: str | None = None,
    ) -> list[OutboxEvent]: ...

    async def get_outbox_event(self, event_id: str) -> OutboxEvent | None: ...

    async def note_sync_window(
        self, sync_id: str, *, vendor: str, user_id: str, resource: str, window_key: str,
        records: int = 0, failed: bool = False, now: float | None = None,
    ) -> list[str]:
        """Count a finished window once; sync.progress, and sync.completed after a resource's
        last window, in the same transaction."""

    async def prune_outbox(
        self, *, older_than_s: float | None = None, now: float | None = None
    ) -> dict[str, int]:
        """Drop finished deliveries, their events and the window counts of syncs older than
        `older_than_s` (default: the configured retention); `prune` calls it."""
