"""Outbound delivery settings, read from the engine's environment (ENGINE_OUTBOUND_*)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.errors import EngineError

_TRUE = ("1", "true", "yes", "on")


class OutboundConfigError(EngineError):
    code = "config_error"
    status = 500


@dataclass(frozen=True, slots=True)
class OutboundConfig:
    enabled: bool = True  # ENGINE_OUTBOX: changes write events (webhooks and the changes feed)
    allow_private: bool = False  # endpoints on private, loopback or link-local addresses
    horizon_s: float = 3 * 86400  # a message is retried this long after its event, then failed
    backoff_base_s: float = 5.0
    backoff_cap_s: float = 3600.0
    timeout_s: float = 15.0  # one request to an endpoint
    pause_after_failures: int = 20  # failures in a row before an endpoint is paused …
    pause_after_s: float = 86400.0  # … the first of them at least this long ago
    concurrency: int = 32  # requests in flight from one process
    per_endpoint: int = 8  # of which at most this many to one endpoint
    inline_samples: int = 100
    lease_s: float = 60.0
    retention_s: float = 14 * 86400.0  # finished deliveries and their events (the feed) kept this long

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OutboundConfig:
        def number(name: str, default: float, minimum: float = 0.0) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise OutboundConfigError(f"{name} must be a number, got {raw[:40]!r}") from None
            if value < minimum or value != value:
                raise OutboundConfigError(f"{name} must be at least {minimum:g}")
            return value

        def flag(name: str, default: bool) -> bool:
            raw = env.get(name, "").strip().lower()
            return default if not raw else raw in _TRUE

        base = cls()
        return cls(
            enabled=flag("ENGINE_OUTBOX", True),
            allow_private=flag("ENGINE_OUTBOUND_ALLOW_PRIVATE", False),
            horizon_s=number("ENGINE_OUTBOUND_RETRY_HORIZON_S", base.horizon_s, 1),
            backoff_base_s=number("ENGINE_OUTBOUND_BACKOFF_BASE_S", base.backoff_base_s, 0.001),
            backoff_cap_s=number("ENGINE_OUTBOUND_BACKOFF_CAP_S", base.backoff_cap_s, 0.001),
            timeout_s=number("ENGINE_OUTBOUND_TIMEOUT_S", base.timeout_s, 0.1),
            pause_after_failures=int(number("ENGINE_OUTBOUND_PAUSE_AFTER_FAILURES", base.pause_after_failures, 1)),
            pause_after_s=number("ENGINE_OUTBOUND_PAUSE_AFTER_S", base.pause_after_s),
            concurrency=int(number("ENGINE_OUTBOUND_CONCURRENCY", base.concurrency, 1)),
            per_endpoint=int(number("ENGINE_OUTBOUND_PER_ENDPOINT", base.per_endpoint, 1)),
            inline_samples=int(number("ENGINE_OUTBOUND_INLINE_SAMPLES", base.inline_samples)),
            lease_s=number("ENGINE_OUTBOUND_LEASE_S", base.lease_s, 1),
            retention_s=number("ENGINE_OUTBOUND_RETENTION_S", base.retention_s, 60),
        )
