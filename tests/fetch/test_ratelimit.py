from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from engine.fetch.errors import BudgetExhausted
from engine.fetch.ratelimit import (
    RateGovernor,
    budget_request,
    lease_size,
    parse_reset,
    parse_retry_after,
    read_feedback,
)
from engine.spec.model import Budget, RateHeaders

NOW = 1_700_000_000.0


def test_retry_after_forms():
    assert parse_retry_after("12", NOW) == 12
    assert parse_retry_after("-3", NOW) == 0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("nan", NOW) is None
    date = format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)
    assert parse_retry_after(date, NOW) == pytest.approx(30, abs=1)


def test_reset_units():
    assert parse_reset("20", "seconds", NOW) == 20
    assert parse_reset(str(NOW + 5), "epoch_s", NOW) == pytest.approx(5)
    assert parse_reset(str((NOW + 5) * 1000), "epoch_ms", NOW) == pytest.approx(5)
    assert parse_reset("x", "seconds", NOW) is None


def test_feedback_from_headers():
    dialect = RateHeaders(remaining="X-Remaining", reset="X-Reset")
    assert read_feedback({"Retry-After": "9"}, dialect, status=429, now=NOW).block_s == 9
    assert read_feedback({"Retry-After": "9"}, dialect, status=503, now=NOW).block_s == 9
    assert read_feedback({"X-Remaining": "0", "X-Reset": "40"}, dialect, status=200, now=NOW).block_s == 40
    assert read_feedback({"X-Remaining": "3", "X-Reset": "40"}, dialect, status=200, now=NOW).block_s is None
    assert read_feedback({"X-Reset": "40"}, dialect, status=429, now=NOW).block_s == 40


def test_budget_never_lets_more_than_n_through_in_any_window():
    request = budget_request("v", Budget(per="app", requests=100, window_s=60), None, 0.9)
    # burst + rate × window must not exceed the vendor's count
    assert request.burst + request.rate <= 100
    assert request.rate >= 90
    small = budget_request("v", Budget(per="user", requests=5, window_s=1), "u1", 0.9)
    assert small.burst + small.rate <= 5 and small.key == "v:user:u1:5/1s"


class FakeSpecLimits:
    pass


@pytest.mark.anyio
async def test_governor_spaces_requests_through_the_store(tmp_path):
    from engine.store import open_store
    from tests.fetch.helpers import limits_spec

    store = await open_store(None, tmp_path, secret_keys=["k" * 32])
    try:
        clock = [NOW]
        slept: list[float] = []

        async def sleep(s: float) -> None:
            slept.append(s)
            clock[0] += s

        spec = limits_spec([Budget(per="app", requests=10, window_s=10)])
        governor = RateGovernor(spec, store, sleep=sleep, clock=lambda: clock[0])
        for _ in range(20):
            await governor.acquire("u1")
        # 20 requests at 9 per 10 s after a burst of one: the last goes out ≥ 20 s later
        assert clock[0] - NOW == pytest.approx(19 * 10 / 9, rel=0.01)

        await governor.feedback({"Retry-After": "120"}, 429, "u1")
        with pytest.raises(BudgetExhausted) as info:
            await governor.acquire("u1", max_wait_s=60)
        assert info.value.retry_after == pytest.approx(120, abs=2)
    finally:
        await store.close()


@pytest.mark.anyio
async def test_a_block_does_not_cost_a_long_budget_its_burst(tmp_path):
    from engine.store import open_store
    from tests.fetch.helpers import limits_spec

    store = await open_store(None, tmp_path, secret_keys=["k" * 32])
    try:
        clock = [NOW]

        async def sleep(s: float) -> None:
            clock[0] += s

        spec = limits_spec([Budget(per="app", requests=10000, window_s=86400)])
        governor = RateGovernor(spec, store, sleep=sleep, clock=lambda: clock[0])
        await governor.acquire(None)
        await governor.feedback({"Retry-After": "2"}, 503, None)
        for _ in range(50):
            await governor.acquire(None)
        # two seconds of block, then the day budget's burst is still there
        assert clock[0] - NOW == pytest.approx(2, abs=0.1)
    finally:
        await store.close()


class CountingStore:
    """Counts the reservations that reach the store."""

    def __init__(self, store) -> None:
        self.store = store
        self.reservations: list[int] = []  # the cost of each

    async def acquire_budget(self, requests, **kwargs):
        self.reservations.append(requests[0].cost)
        return await self.store.acquire_budget(requests, **kwargs)

    async def penalize_budget(self, key, until, **kwargs):
        return await self.store.penalize_budget(key, until, **kwargs)


def test_only_generous_budgets_are_leased():
    per_minute = budget_request("v", Budget(per="app", requests=100, window_s=60), None, 0.9)
    per_second = budget_request("v", Budget(per="app", requests=10_000, window_s=1), None, 0.9)
    assert lease_size([per_minute]) == 1  # 1.5 requests a second: no lease
    assert lease_size([per_second]) == 100  # capped; 0.1 s of 9,000/s would be 900
    slow_burst = budget_request("v", Budget(per="app", requests=100, window_s=1), None, 0.9)
    assert slow_burst.burst == 8 and lease_size([slow_burst]) == 8  # never more than the burst
    assert lease_size([per_second, per_minute]) == 1  # every budget must allow it


@pytest.fixture
async def budget_store(tmp_path):
    from engine.store import open_store

    store = await open_store(None, tmp_path, secret_keys=["k" * 32])
    yield store
    await store.close()


@pytest.mark.anyio
async def test_a_generous_budget_is_reserved_a_lease_at_a_time(budget_store):
    from tests.fetch.helpers import limits_spec

    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)  # the clock stands still: every wait is measured from NOW

    counting = CountingStore(budget_store)
    spec = limits_spec([Budget(per="app", requests=10_000, window_s=1)])
    governor = RateGovernor(spec, counting, sleep=sleep, clock=lambda: NOW)  # type: ignore[arg-type]
    for _ in range(250):
        await governor.acquire("u1")
    assert counting.reservations == [100, 100, 100]  # 250 requests, three durable writes
    assert slept == []  # all within the 998-request burst
    state = await budget_store.get_budget(governor.requests_for("u1")[0].key)
    assert state is not None and state.tat == pytest.approx(NOW + 300 / 9000)

    # A block from the vendor drops the lease: the next request goes to the store and waits.
    await governor.feedback({"Retry-After": "3"}, 429, "u1")
    await governor.acquire("u1")
    # after a block the gate restarts without its burst (1,000/s): 100 slots need 99 ms more
    assert counting.reservations[-1] == 100 and slept == [pytest.approx(3.099)]
    # a request spending the same lease before that moment waits for it too, unless that is
    # longer than it may wait: then it is told when to come back and spends nothing
    await governor.acquire("u1")
    assert slept == [pytest.approx(3.099), pytest.approx(3.099)]
    with pytest.raises(BudgetExhausted) as info:
        await governor.acquire("u1", max_wait_s=1)
    assert info.value.retry_after == pytest.approx(3.099)
    assert counting.reservations[-1] == 100 and len(counting.reservations) == 4
