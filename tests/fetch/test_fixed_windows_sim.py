"""A fixed-window budget against the simulator, which counts fixed windows too."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from engine.fetch.fetcher import Fetcher
from engine.fetch.windows import plan_windows
from engine.spec.model import Budget
from tests.fetch.test_fetch_sim import caller_for, client, store, whoop  # noqa: F401


@pytest.mark.anyio
async def test_a_fixed_window_budget_uses_each_window_whole_without_a_429(sim, store, client):  # noqa: F811
    """The simulator counts fixed windows; a spec that says so gets each window's quota at once
    (the window's edges aside) and never a 429 — nor a block from the vendor's "0 remaining"."""
    user = sim.state.add_user("whoop", days=60)
    sim.state.set_limit("whoop", requests=8, window_s=1)
    spec = whoop(sim)
    spec = replace(spec, limits=replace(spec.limits, budgets=(
        Budget(per="app", requests=8, window_s=1, counted="fixed"),)))
    fetcher = Fetcher(spec, client, store)
    caller, _tokens = caller_for(sim, "whoop", user)
    res = spec.resources["sleep"]
    res = replace(res, list=replace(res.list, request=replace(res.list.request, params=tuple(
        (k, v) if k != "limit" else (k, type(v)("3")) for k, v in res.list.request.params))))
    records = []
    now = datetime.now(UTC)
    async for page in fetcher.pages(caller, res, plan_windows(now - timedelta(days=61), now, None)[0]):
        records.extend(page.records)
    assert fetcher.stats.requests >= 16
    assert sim.state.served_429("whoop") == 0
    assert len(records) == len(sim.state.records("whoop", "sleep", user.key))
