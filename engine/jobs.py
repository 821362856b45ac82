"""Background work as typed records: every job kind, its payload and the signals a handler raises.

This is where the layers meet: the webhook receiver and the sync planner build these records, the
worker's handlers read them back; the store keeps only `kind` and the JSON `payload`. A payload
that does not read back (written by hand, or by an older engine) is a `PermanentJobError`, never a
crash in the middle of a handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar, Self


class JobKind(StrEnum):
    WEBHOOK_EVENT = "webhook_event"
    SYNC_WINDOW = "sync_window"
    POLL = "sync_poll"
    INITIAL_SYNC = "sync_initial"
    TOKEN_REFRESH = "token_refresh"
    RENEW_SUBSCRIPTION = "app_subscription_renew"


# Job queue lanes (`JobSpec.priority`): among due jobs the higher runs first, so a webhook's fetch
# takes the next budget slot ahead of polls, and polls ahead of backfill windows.
PRIORITY_LIVE = 20
PRIORITY_POLL = 10
PRIORITY_BACKFILL = 0


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help (bad payload, revoked connection): the job
    goes straight to `failed` with this message."""


class RetryLater(Exception):
    """Raised by a handler that knows when to try again (e.g. a vendor's Retry-After)."""

    def __init__(self, message: str, delay_s: float) -> None:
        super().__init__(message)
        self.delay_s = max(0.0, delay_s)


class Reschedule(RetryLater):
    """Raised by a handler whose job must wait for something that is not a failure (the rate
    budget's next slot): the job runs again after `delay_s` without using an attempt."""


_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str, "int": int, "float": (int, float), "bool": bool, "dict": dict, "Any": object,
}


@dataclass(frozen=True, slots=True)
class JobPayload:
    """Base of every payload: `to_payload()` for the store, `read(payload)` to get it back."""

    kind: ClassVar[JobKind]

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, payload: Mapping[str, Any]) -> Self:
        values: dict[str, Any] = {}
        for item in fields(cls):
            value = payload.get(item.name)
            base = _base_type(str(item.type))
            if value is None or value == "":
                if item.default is MISSING:
                    raise PermanentJobError(f"job payload has no {item.name!r}")
                values[item.name] = item.default
                continue
            expected = _TYPES.get(base, object)
            if isinstance(value, bool) and base in ("int", "float"):
                raise PermanentJobError(f"job payload {item.name!r} must be a number")
            if not isinstance(value, expected):
                raise PermanentJobError(f"job payload {item.name!r} must be a {base}")
            values[item.name] = value
        return cls(**values)


def _base_type(annotation: str) -> str:
    """`str` of `str | None`: payloads are JSON, so annotations are simple names."""
    return next((part.strip() for part in annotation.split("|") if part.strip() != "None"), "Any")


@dataclass(frozen=True, slots=True)
class WebhookEventJob(JobPayload):
    """What one routed webhook event asks for. From a delivery that is not authenticated, `data`
    is always None and an acting route arrives as its `confirm` step."""

    kind: ClassVar[JobKind] = JobKind.WEBHOOK_EVENT
    vendor: str
    event_key: str
    action: str  # fetch | delete | ingest | disconnect
    trust: str | None = None  # None (a job from before trust levels): the spec's level decides
    received_at: float | None = None
    event_id: str | None = None
    event_type: str | None = None
    vendor_user_id: str | None = None
    user_id: str | None = None
    object_id: str | None = None
    resource: str | None = None
    by: str | None = None  # id | window | callback_url | changes
    window: dict | None = None  # {"start", "end"} as the event gave them
    callback_url: str | None = None
    data: Any = None
    confirm: str | None = None
    route_index: int | None = None
    lookback_s: int | None = None


@dataclass(frozen=True, slots=True)
class SyncWindowJob(JobPayload):
    kind: ClassVar[JobKind] = JobKind.SYNC_WINDOW
    vendor: str
    user_id: str
    resource: str
    window: dict  # TimeWindow.to_payload()
    sync_id: str | None = None
    channel: str | None = None  # how the records arrive: backfill | manual_sync (None: manual_sync)
    replace: bool = False  # remove the samples the records read no longer map to


@dataclass(frozen=True, slots=True)
class PollJob(JobPayload):
    kind: ClassVar[JobKind] = JobKind.POLL
    vendor: str
    user_id: str
    resource: str


@dataclass(frozen=True, slots=True)
class InitialSyncJob(JobPayload):
    kind: ClassVar[JobKind] = JobKind.INITIAL_SYNC
    vendor: str
    user_id: str


@dataclass(frozen=True, slots=True)
class TokenRefreshJob(JobPayload):
    kind: ClassVar[JobKind] = JobKind.TOKEN_REFRESH
    vendor: str
    user_id: str
    token_version: int | None = None


@dataclass(frozen=True, slots=True)
class RenewSubscriptionJob(JobPayload):
    kind: ClassVar[JobKind] = JobKind.RENEW_SUBSCRIPTION
    vendor: str
    subscription_id: str
