from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from engine.fetch.errors import BudgetExhausted
from engine.fetch.ratelimit import (
    RateGovernor,
    budget_request,
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
