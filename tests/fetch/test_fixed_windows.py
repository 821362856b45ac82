"""Budgets the vendor counts in fixed windows (`counted: fixed`): each window's quota at once, the
live share kept from backfills, nothing booked in a later window, and the arithmetic the same on
both stores."""

from __future__ import annotations

import math

import pytest

from engine.fetch.ratelimit import LIVE_SHARE, RateGovernor, budget_priority, budget_request
from engine.jobs import PRIORITY_BACKFILL, PRIORITY_LIVE
from engine.spec.model import Budget, Limits
from engine.store import Store
from engine.store.gcra import FixedWindowRequest, reserve
from tests.store.conftest import _drop_postgres_schemas, adapter, anyio_backend, clock, store  # noqa: F401
from tests.store.helpers import ManualClock

START = 1_700_000_040.0  # a multiple of 60 and of 10


def request(limit: int = 10, usable: int = 0, guard_s: float = 0.0, pace_ahead: int = 0) -> FixedWindowRequest:
    return FixedWindowRequest("v:app:10/10s", rate=limit, period_s=10.0, usable=usable, guard_s=guard_s,
                              pace_ahead=pace_ahead)


def test_a_window_hands_out_its_quota_at_once_then_the_next_window_opens():
    row, waits = None, []
    for _ in range(12):
        granted = reserve(request(), row, START + 3)
        row = granted.row
        waits.append(round(granted.wait_s, 6))
    assert waits == [0.0] * 10 + [7.0] * 2  # the window's 10 however late in it, then the next


def test_requests_below_the_full_quota_leave_the_rest_of_the_window():
    row = None
    for _ in range(8):
        row = reserve(request(usable=8), row, START + 1).row
    assert reserve(request(usable=8), row, START + 1).wait_s == pytest.approx(9)  # next window
    live = reserve(request(), row, START + 1)  # the full quota: the window's last two slots
    assert live.wait_s == 0


def test_paced_requests_keep_to_the_windows_elapsed_share():
    """10 slots in 10 s, 2 ahead: slot k from START + (k + 1 - 2) s on, then the next window's."""
    row, waits = None, []
    for _ in range(11):
        granted = reserve(request(pace_ahead=2), row, START)
        row = granted.row
        waits.append(round(granted.wait_s, 6))
    assert waits == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 10]


def test_live_work_takes_a_slot_at_once_while_paced_work_keeps_to_its_share():
    row = None
    for _ in range(5):  # the backfill's share at START + 3: slots 0-4
        row = reserve(request(pace_ahead=2), row, START + 3).row
    assert reserve(request(pace_ahead=2), row, START + 3).wait_s == pytest.approx(1)  # slot 5 at +4
    live = reserve(request(), row, START + 3)
    assert live.wait_s == 0  # slot 5, now
    assert reserve(request(pace_ahead=2), live.row, START + 3).wait_s == pytest.approx(2)  # slot 6 at +5


def test_no_request_starts_at_a_window_edge():
    assert reserve(request(guard_s=0.5), None, START + 9.8).wait_s == pytest.approx(0.7)  # next, + guard
    assert reserve(request(guard_s=0.5), None, START + 0.1).wait_s == pytest.approx(0.4)


def test_a_window_count_survives_epoch_sized_times():
    """tat sits at 1.7e9 s, where float error is far above a slot's fraction of a microsecond."""
    small = FixedWindowRequest("k", rate=100, period_s=2.0)
    row, granted = None, 0
    for i in range(300):
        reservation = reserve(small, row, START + i * 0.001)
        if reservation.wait_s == 0:
            row, granted = reservation.row, granted + 1
    assert granted == 100


def test_fixed_budgets_become_fixed_window_requests_with_a_live_share():
    budget = Budget(per="app", requests=100, window_s=60, counted="fixed")
    backfill = budget_request("v", budget, None, 0.9, live=False)
    live = budget_request("v", budget, None, 0.9, live=True)
    assert isinstance(backfill, FixedWindowRequest) and isinstance(live, FixedWindowRequest)
    assert live.limit == 100 and backfill.limit == 100 - math.floor(100 * LIVE_SHARE) < 100
    assert live.pace_ahead == 0 and backfill.pace_ahead == math.floor(100 * LIVE_SHARE)
    assert backfill.key == live.key  # one row: live work and backfills share the window


@pytest.mark.anyio
async def test_stores_count_fixed_windows_alike(store: Store, clock: ManualClock) -> None:  # noqa: F811
    clock.now = START + 2
    grants = [await store.acquire_budget([request()], max_wait_s=0.0) for _ in range(11)]
    assert [g.granted for g in grants] == [True] * 10 + [False]
    assert grants[-1].wait_s == pytest.approx(8)  # START + 10: the next window
    clock.now = START + 10
    assert (await store.acquire_budget([request()], max_wait_s=0.0)).granted


class _Spec:
    def __init__(self, *budgets: Budget) -> None:
        self.id = "v"
        self.limits = Limits(budgets=budgets)


@pytest.mark.anyio
async def test_a_backfill_waiting_for_the_next_window_books_nothing(
    store: Store, clock: ManualClock  # noqa: F811
) -> None:
    """Live work that arrives while a backfill waits finds the current window's live share: the
    waiting backfill asks again when its window opens rather than book a slot ahead."""
    clock.now = START + 1
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    spec = _Spec(Budget(per="app", requests=100, window_s=10, counted="fixed"))
    governor = RateGovernor(spec, store, sleep=sleep, clock=clock)  # type: ignore[arg-type]
    with budget_priority(PRIORITY_BACKFILL):
        for _ in range(97):
            await governor.acquire(None)
        # paced, 3 ahead (the live share): slot k from START + (k - 2) * 0.1 s; the first 13 at once
        assert clock.now == pytest.approx(START + 9.4) and len(slept) == 97 - 13
        key = governor.requests_for(None)[0].key
        before = await store.get_budget(key)
        assert await _refused(governor) == pytest.approx(1.1)  # the next window, past its guard
    assert await store.get_budget(key) == before
    with budget_priority(PRIORITY_LIVE):
        assert await governor.acquire(None) == 0  # the live share, in the window it arrived in


async def _refused(governor: RateGovernor) -> float:
    from engine.fetch.errors import BudgetExhausted

    try:
        await governor.acquire(None, max_wait_s=1.0)
    except BudgetExhausted as error:
        assert error.retry_after is not None
        return error.retry_after
    raise AssertionError("a slot was granted")
