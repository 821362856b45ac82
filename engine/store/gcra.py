"""GCRA arithmetic for rate budgets, kept apart from storage so every adapter agrees on it.

A budget row holds the theoretical arrival time (tat) of the next request. With emission interval
T = period/rate and tolerance tau = T*(burst-1), a request may go at max(tat - tau, blocked_until);
reserving it moves tat to max(tat, that moment) + T. A reservation of `cost` slots is granted from
the moment all of them conform (the last at tat + T*(cost-1) - tau), so they may all go at once.

A vendor that counts in fixed windows (N requests in each W-long window starting at a multiple of W
since the epoch: the minute at :00, the day at 00:00 UTC) is met by `FixedWindowRequest`: the same
row's tat is then the next free slot of a window, slot k of the window starting at s being
s + k*W/N, so a window hands out its N slots at once rather than paced. A request may take a slot
with index below its `usable` count (fewer than N keeps the window's last slots for priority work),
and never starts within `guard_s` of a window's edges: one started just before a window ends
could reach the vendor in the next window, and the vendor's clock may run a little apart. A paced
request (`pace_ahead` > 0, backfill work) takes slot k only from s + (k + 1 - pace_ahead)*W/N on:
it keeps to the window's elapsed share, so work that may take any slot (live work) finds free
slots all through the window instead of a window spent in its first moments.
"""

from __future__ import annotations

import math
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


@dataclass(frozen=True, slots=True)
class FixedWindowRequest(BudgetRequest):
    """`rate` requests in each fixed `period_s` window (see the module); `burst` is not used."""

    usable: int = 0  # slots of each window this request may take; 0: all of them
    guard_s: float = 0.0  # no request starts this close to either edge of a window
    pace_ahead: int = 0  # paced: slots it may run ahead of the window's elapsed share; 0: not paced

    @property
    def slots(self) -> int:
        return max(1, int(self.rate))

    @property
    def limit(self) -> int:
        return min(self.slots, self.usable) if self.usable > 0 else self.slots


def validate(request: BudgetRequest) -> None:
    if not request.key:
        raise ValueError("budget key must not be empty")
    if not (request.rate > 0 and request.period_s > 0):
        raise ValueError("budget rate and period must be positive")
    if request.burst < 1 or request.cost < 1:
        raise ValueError("budget burst and cost must be at least 1")


def reserve(request: BudgetRequest, stored: BudgetRow | None, now: float) -> Reservation:
    if isinstance(request, FixedWindowRequest):
        return reserve_fixed(request, stored, now)
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


def reserve_fixed(request: FixedWindowRequest, stored: BudgetRow | None, now: float) -> Reservation:
    """The first window (from now on) with `cost` free slots below the request's limit."""
    window = request.period_s
    emission = window / request.slots
    guard = min(request.guard_s, window / 4)
    tat = 0.0 if stored is None else stored.tat
    blocked_until = 0.0 if stored is None else stored.blocked_until
    at = max(now, blocked_until)
    while True:
        start = math.floor(at / window) * window
        if tat >= start + window:  # this window's slots are all taken: go to tat's window
            at = math.floor(tat / window) * window
            continue
        if at < start + guard:
            at = start + guard
        if at > start + window - guard:
            at = start + window
            continue
        # slots taken: tat is start + k*T, give or take float error at epoch-sized times
        used = max(0, math.ceil((tat - start) / emission - 1e-3))
        if used + request.cost <= request.limit:
            if request.pace_ahead <= 0:
                break
            paced = start + (used + request.cost - request.pace_ahead) * emission
            if paced <= start + window - guard:
                at = max(at, paced)
                break
        at = start + window
    new_tat = start + emission * (used + request.cost)
    return Reservation(
        wait_s=at - now,
        row=BudgetRow(tat=new_tat, emission_s=emission, tau_s=0.0, blocked_until=blocked_until),
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
