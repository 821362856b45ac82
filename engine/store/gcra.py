"""GCRA arithmetic for rate budgets, kept apart from storage so every adapter agrees on it.

A budget row holds the theoretical arrival time (tat) of the next request. With emission interval
T = period/rate and tolerance tau = T*(burst-1), a request may go at max(tat - tau, blocked_until);
reserving it moves tat to max(tat, that moment) + T. A reservation of `cost` slots is granted from
the moment all of them conform (the last at tat + T*(cost-1) - tau), so they may all go at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.store.records import BudgetRequest


@dataclass(frozen=True, slots=True)
class BudgetRow:
    tat: float
    emission_s: float
    tau_s: float
    blocked_until: float


@dataclass(frozen=True, slots=True)
class Reservation:
    wait_s: float
    row: BudgetRow  # the row to store if the reservation is taken


def validate(request: BudgetRequest) -> None:
    if not request.key:
        raise ValueError("budget key must not be empty")
    if not (request.rate > 0 and request.period_s > 0):
        raise ValueError("budget rate and period must be positive")
    if request.burst < 1 or request.cost < 1:
        raise ValueError("budget burst and cost must be at least 1")


def reserve(request: BudgetRequest, stored: BudgetRow | None, now: float) -> Reservation:
    emission = request.period_s / request.rate
    tau = emission * (request.burst - 1)
    tat = now if stored is None else max(stored.tat, now)
    blocked_until = 0.0 if stored is None else stored.blocked_until
    send_at = max(tat + emission * (request.cost - 1) - tau, blocked_until, now)
    new_tat = max(tat, send_at) + emission * request.cost
    return Reservation(
        wait_s=send_at - now,
        row=BudgetRow(tat=new_tat, emission_s=emission, tau_s=tau, blocked_until=blocked_until),
    )


def penalize(stored: BudgetRow | None, until: float) -> BudgetRow:
    """Nothing before `until`; afterwards restart without the burst allowance."""
    if stored is None:
        return BudgetRow(tat=until, emission_s=0.0, tau_s=0.0, blocked_until=until)
    return BudgetRow(
        tat=max(stored.tat, until + stored.tau_s),
        emission_s=stored.emission_s,
        tau_s=stored.tau_s,
        blocked_until=max(stored.blocked_until, until),
    )
