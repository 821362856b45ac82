"""Rate-budget status of a vendor: how much of each spec budget is in use, and any vendor backoff.

Budgets live as GCRA rows in the store (shared by every process), so this reads the same rows the
fetcher reserves from; nothing is reserved by looking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.fetch.ratelimit import RateGovernor, budget_request
from engine.spec.model import Spec
from engine.store.port import BudgetRequest, BudgetState, Store

# The governor's default headroom; the rows are keyed by the spec budget, not by this number.
_HEADROOM = 0.9


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One spec budget as the engine runs it right now."""

    scope: str  # "app" or "user"
    requests: int  # the spec's allowance per window
    window_s: int
    in_use: int  # requests still counted against the window (approximate, from the GCRA backlog)
    remaining: int  # requests left in the window: requests - in_use
    available_now: int  # requests that may go out back to back right now (the burst allowance)
    blocked_for_s: float  # the vendor asked us to stop (Retry-After / reset) for this long

    @property
    def window(self) -> str:
        return _duration(self.window_s)


@dataclass(frozen=True, slots=True)
class RateLimitStatus:
    vendor: str
    user_id: str | None
    budgets: tuple[BudgetStatus, ...]
    backoff_s: float  # the longest current block of the app or the user; 0 when none

    @property
    def app(self) -> tuple[BudgetStatus, ...]:
        return tuple(b for b in self.budgets if b.scope == "app")

    @property
    def user(self) -> tuple[BudgetStatus, ...]:
        return tuple(b for b in self.budgets if b.scope == "user")

    def as_dict(self) -> dict[str, object]:
        return {
            "vendor": self.vendor,
            "user_id": self.user_id,
            "backoff_s": round(self.backoff_s, 3),
            "budgets": [
                {"scope": b.scope, "requests": b.requests, "window": b.window, "in_use": b.in_use,
                 "remaining": b.remaining, "available_now": b.available_now,
                 "blocked_for_s": round(b.blocked_for_s, 3)}
                for b in self.budgets
            ],
        }


async def rate_limit_status(spec: Spec, store: Store, *, user_id: str | None, now: float) -> RateLimitStatus:
    """App budgets always; per-user budgets only for `user_id`."""
    statuses: list[BudgetStatus] = []
    for budget in spec.limits.budgets:
        if budget.per == "user" and user_id is None:
            continue
        request = budget_request(spec.id, budget, user_id, _HEADROOM)
        state = await store.get_budget(request.key)
        in_use, available, blocked = _usage(request, state, now)
        in_use = min(in_use, budget.requests)
        statuses.append(BudgetStatus(budget.per, budget.requests, budget.window_s, in_use,
                                     budget.requests - in_use, available, blocked))
    governor = RateGovernor(spec, store)
    backoff = max((b.blocked_for_s for b in statuses), default=0.0)
    for key in governor.penalty_keys(user_id):
        gate = await store.get_budget(key)
        if gate is not None:
            backoff = max(backoff, gate.blocked_until - now)
    return RateLimitStatus(spec.id, user_id, tuple(statuses), max(0.0, backoff))


def _usage(request: BudgetRequest, state: BudgetState | None, now: float) -> tuple[int, int, float]:
    if state is None:
        return 0, request.burst, 0.0
    blocked = max(0.0, state.blocked_until - now)
    backlog = max(0.0, state.tat - now)
    in_use = math.ceil(backlog / state.emission_s - 1e-9) if state.emission_s > 0 else 0
    return in_use, state.available(now), blocked


def _duration(seconds: int) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
