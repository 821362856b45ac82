"""Rate budgets from the spec, enforced before a request is sent and fed back by the vendor's
rate-limit headers.

Each spec budget becomes one GCRA row in the store, so every worker on the same store shares it.
A budget of N requests per W seconds is run at ``headroom`` × N per W with a burst of the rest,
so that no W-long stretch ever carries more than N requests (burst + rate × W ≤ N) even when the
vendor counts in sliding windows. Vendor feedback (Retry-After, remaining = 0 until reset)
blocks the rows until the vendor says requests may resume.

Where every budget allows many requests in a short time, one reservation in the store covers a
lease of several requests, spent here in memory: a backfill against a generous budget then does
not wait for a durable write before every request. A lease holds no more than `LEASE_HORIZON_S`
of any budget's sustained rate and no more than its burst, so the slots reserved but unspent when
a worker stops are a sliver of the budget; vendor feedback drops every lease.

A budget the vendor counts in fixed windows (`counted: fixed`) is kept as the vendor keeps it: each
window's whole quota is usable (no headroom), and live work may spend it all at once. A slot is
only ever taken in the window it is sent in — a request that finds the window spent sleeps until
the next one starts and asks again, so nothing books a later window ahead — and work below the
live priority (`budget_priority`, set by the worker from the job) is paced through the window
(no further ahead of the window's elapsed share than its live share) and leaves the last
`LIVE_SHARE` of each window to live work: a webhook's fetch finds a slot when it arrives, however
much of the budget the live work itself takes, while a backfill saturates the budget.

Waiting in place for a slot ends early when the worker stops (`end_budget_waits_on`): the wait
raises `BudgetExhausted` with the time left, so the job goes back to the queue for its slot and the
worker exits without waiting for it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime

from engine.fetch.errors import BudgetExhausted
from engine.jobs import PRIORITY_LIVE
from engine.spec.model import Budget, RateHeaders, Spec
from engine.store.gcra import FixedWindowRequest
from engine.store.port import BudgetRequest, Store

# Vendor feedback lands on a "gate" row per scope rather than on the budget rows: blocking a
# budget row would also cancel its burst allowance (a day budget would then crawl at its average
# rate). The gate admits far more than any vendor allows, so it only ever waits out a block.
_GATE_RATE = 1000.0
LEASE_HORIZON_S = 0.1
MAX_LEASE = 100

# Fixed windows: the share of each window kept for live work, and how close to a window's edges no
# request starts (a fraction of the window, at most FIXED_GUARD_MAX_S).
LIVE_SHARE = 0.03
FIXED_GUARD = 0.05
FIXED_GUARD_MAX_S = 0.5  # a request's flight to the vendor; live work arriving at an edge waits this twice

# Set while a worker runs a job: once the event is set, no budget wait starts or goes on.
_WAITS_END: ContextVar[asyncio.Event | None] = ContextVar("budget_waits_end", default=None)
# The priority of the work the requests are made for (None: not a job, served like live work).
_PRIORITY: ContextVar[int | None] = ContextVar("budget_priority", default=None)


@contextmanager
def budget_priority(priority: int | None) -> Iterator[None]:
    """Within the block, requests are made for work of this priority: below `PRIORITY_LIVE`, a
    fixed-window budget's live share stays out of reach."""
    token = _PRIORITY.set(priority)
    try:
        yield
    finally:
        _PRIORITY.reset(token)


def is_live() -> bool:
    priority = _PRIORITY.get()
    return priority is None or priority >= PRIORITY_LIVE


@contextmanager
def end_budget_waits_on(event: asyncio.Event | None) -> Iterator[None]:
    """Within the block (and in tasks created in it), a budget wait in place ends with
    `BudgetExhausted` as soon as `event` is set (a worker shutting down)."""
    token = _WAITS_END.set(event)
    try:
        yield
    finally:
        _WAITS_END.reset(token)


async def sleep_unless_stopping(sleep: Callable[[float], Awaitable[None]], seconds: float) -> bool:
    """Sleep, unless the worker running this job stops first; False when it stopped."""
    stop = _WAITS_END.get()
    if stop is None:
        await sleep(seconds)
        return True
    if stop.is_set():
        return False
    sleeping = asyncio.ensure_future(sleep(seconds))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeping, stopping):
            if not task.done():
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
    if sleeping.done() and not sleeping.cancelled():
        sleeping.result()
        return True
    return False


def lease_size(requests: list[BudgetRequest]) -> int:
    """How many requests one reservation may cover: 1 unless every budget allows a burst and
    more than one request within `LEASE_HORIZON_S`."""
    size = MAX_LEASE
    for request in requests:
        size = min(size, request.burst, math.floor(LEASE_HORIZON_S * request.rate / request.period_s))
    return max(1, size)


def budget_key(vendor: str, budget: Budget, user_id: str | None) -> str:
    scope = "app" if budget.per == "app" else f"user:{user_id}"
    return f"{vendor}:{scope}:{budget.requests}/{budget.window_s}s"


def budget_request(
    vendor: str, budget: Budget, user_id: str | None, headroom: float, *, live: bool = True
) -> BudgetRequest:
    if budget.counted == "fixed":
        keep = 0 if live else math.floor(budget.requests * LIVE_SHARE)
        return FixedWindowRequest(
            budget_key(vendor, budget, user_id), rate=budget.requests, period_s=float(budget.window_s),
            usable=budget.requests - keep, guard_s=min(budget.window_s * FIXED_GUARD, FIXED_GUARD_MAX_S),
            pace_ahead=0 if live else max(1, keep))
    burst = max(1, math.floor(budget.requests * (1 - headroom)) - 1)
    rate = max(min(budget.requests * headroom, budget.requests - burst), budget.requests / 10)
    return BudgetRequest(budget_key(vendor, budget, user_id), rate=rate, period_s=float(budget.window_s), burst=burst)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After value (delta seconds or an HTTP date)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def parse_reset(value: str | None, unit: str, now: float) -> float | None:
    """Seconds until the vendor's rate-limit window resets."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if unit == "epoch_s":
        number -= now
    elif unit == "epoch_ms":
        number = number / 1000 - now
    return max(0.0, number)


def _int_header(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class RateFeedback:
    """What a response said about the vendor's limits: block sending for ``block_s`` seconds."""

    block_s: float | None


def read_feedback(
    headers: Mapping[str, str], dialect: RateHeaders, *, status: int, now: float
) -> RateFeedback:
    retry_after = None
    if dialect.retry_after and status in (429, 503):
        retry_after = parse_retry_after(headers.get(dialect.retry_after), now)
    if retry_after is not None:
        return RateFeedback(retry_after)
    reset = parse_reset(headers.get(dialect.reset), dialect.reset_unit, now) if dialect.reset else None
    remaining = _int_header(headers.get(dialect.remaining)) if dialect.remaining else None
    if status == 429:
        return RateFeedback(reset)
    if remaining is not None and remaining <= 0 and reset is not None:
        return RateFeedback(reset)
    return RateFeedback(None)


class RateGovernor:
    """Waits for a slot in every budget that covers a request, and records vendor feedback."""

    def __init__(
        self,
        spec: Spec,
        store: Store,
        *,
        headroom: float = 0.9,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spec = spec
        self.store = store
        self.headroom = headroom
        self.sleep = sleep
        self.clock = clock
        self._leases: dict[str | None, _Lease] = {}

    def _keeps_fixed_windows(self) -> bool:
        """Every budget is counted in fixed windows, so the engine knows when each one resets
        (the vendor's reset header, in whole seconds, only says so coarsely)."""
        budgets = self.spec.limits.budgets
        return bool(budgets) and all(b.counted == "fixed" for b in budgets)

    def _meters_users(self) -> bool:
        return any(b.per == "user" for b in self.spec.limits.budgets)

    def _gate(self, user_id: str | None) -> str:
        if user_id is not None and self._meters_users():
            return f"{self.spec.id}:gate:user:{user_id}"
        return f"{self.spec.id}:gate:app"

    def requests_for(self, user_id: str | None, *, live: bool = True) -> list[BudgetRequest]:
        budgets = [b for b in self.spec.limits.budgets if b.per == "app" or user_id is not None]
        requests = [budget_request(self.spec.id, b, user_id, self.headroom, live=live) for b in budgets]
        requests.append(BudgetRequest(self._gate(user_id), rate=_GATE_RATE, period_s=1.0, burst=1000))
        return requests

    def penalty_keys(self, user_id: str | None) -> list[str]:
        """Where a block lands: the user's gate when the spec meters per user, else the app's."""
        return [self._gate(user_id)]

    async def acquire(self, user_id: str | None, *, max_wait_s: float = float("inf")) -> float:
        """Reserve a slot (sleeping as long as the budgets say); returns the time waited. When the
        wait would exceed `max_wait_s`, nothing is reserved and `BudgetExhausted` says when to
        come back."""
        lease = self._leases.get(user_id)
        if lease is not None and lease.slots > 0:
            wait_s = lease.ready_at - self.clock()
            if wait_s > max_wait_s:
                raise self._exhausted(wait_s)
            lease.slots -= 1
        else:
            requests = self.requests_for(user_id, live=is_live())
            size = lease_size(requests)
            if size > 1:
                requests = [replace(request, cost=size) for request in requests]
            waited, wait_s = await self._reserve(requests, max_wait_s)
            if size > 1:
                self._leases[user_id] = _Lease(size - 1, ready_at=self.clock() + wait_s)
            if wait_s > 0:
                await self._wait(wait_s)
            return waited + max(0.0, wait_s)
        if wait_s > 0:
            await self._wait(wait_s)
        return max(0.0, wait_s)

    async def _reserve(self, requests: list[BudgetRequest], max_wait_s: float) -> tuple[float, float]:
        """Reserve the requests' slots: the time slept before the reservation, and the wait
        from it until the slots may be spent. Where a budget counts
        in fixed windows, no later window is booked ahead: the slot is asked for again once the
        window it would be in has started (so work that arrives meanwhile, live work first,
        finds the slots of the window it arrives in)."""
        ahead = min((r.guard_s for r in requests if isinstance(r, FixedWindowRequest)), default=None)
        waited = 0.0
        while True:
            now = self.clock()
            limit = max_wait_s - waited
            grant = await self.store.acquire_budget(
                requests, max_wait_s=limit if ahead is None else min(limit, ahead), now=now)
            if grant.granted and (ahead is None or self.clock() <= _spend_by(requests, now + grant.wait_s)):
                return waited, grant.wait_s
            if grant.granted:  # the store answered after the window turned: the slot is lost,
                waited += max(0.0, self.clock() - now)  # not spent in the next window
                continue
            if grant.wait_s > limit:
                raise self._exhausted(grant.wait_s)
            await self._wait(grant.wait_s)
            waited += max(0.0, self.clock() - now)

    async def _wait(self, wait_s: float) -> None:
        """Sleep until the slot, unless the worker stops first (then `BudgetExhausted`)."""
        ready_at = self.clock() + wait_s
        if await sleep_unless_stopping(self.sleep, wait_s):
            return
        left = max(0.0, ready_at - self.clock())
        raise BudgetExhausted(f"{self.spec.id} rate budget: stopping while waiting for a slot; "
                              f"next slot in {left:.0f}s", vendor=self.spec.id, retry_after=left)

    def _exhausted(self, wait_s: float) -> BudgetExhausted:
        return BudgetExhausted(f"{self.spec.id} rate budget exhausted; next slot in {wait_s:.0f}s",
                               vendor=self.spec.id, retry_after=wait_s)

    async def feedback(self, headers: Mapping[str, str], status: int, user_id: str | None) -> float | None:
        """Apply the response's rate-limit headers; returns the block in seconds, if any."""
        now = self.clock()
        result = read_feedback(headers, self.spec.limits.headers, status=status, now=now)
        if status != 429 and self._keeps_fixed_windows():
            return None  # "none left until the reset" is the window we keep already
        if result.block_s is None or result.block_s <= 0:
            return result.block_s
        self._leases.clear()  # reserved before the vendor said stop
        for key in self.penalty_keys(user_id):
            await self.store.penalize_budget(key, now + result.block_s, now=now)
        return result.block_s


def _spend_by(requests: list[BudgetRequest], slot_at: float) -> float:
    """The latest moment a slot reserved for `slot_at` may still be spent: well inside the fixed
    windows it was counted in."""
    ends = [math.floor(slot_at / r.period_s) * r.period_s + r.period_s - r.guard_s / 2
            for r in requests if isinstance(r, FixedWindowRequest)]
    return min(ends, default=math.inf)


@dataclass(slots=True)
class _Lease:
    slots: int  # reserved in the store, not spent yet
    ready_at: float  # when the reservation's slots may be spent
