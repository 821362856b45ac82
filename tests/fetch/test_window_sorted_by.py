"""`window.sorted_by`: a list that takes only a start (Fitbit's afterDate, oldest first) stops
paging once a page reaches the window's end, so each window reads its own range and not
everything after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

from engine.fetch.fetcher import Fetcher
from engine.fetch.windows import TimeWindow, reached_window_end
from engine.spec.loader import load_spec
from engine.store import open_store
from tests.fetch.test_fetch_sim import caller_for, quick_retries

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def store(tmp_path):
    store = await open_store(None, tmp_path, secret_keys=["s" * 32])
    yield store
    await store.close()


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.anyio
async def test_fitbit_activity_window_reads_only_up_to_its_end(sim, store):
    user = sim.state.add_user("fitbit", days=200)
    spec = quick_retries(load_spec(ROOT / "vendors/fitbit.yaml", env=sim.env()))
    truth = sim.state.records("fitbit", "activities", user.key)
    assert len(truth) > 100  # two pages or more of the spec's limit of 100
    first = min(_utc(r["startTime"]) for r in truth)
    start = first.replace(hour=0, minute=0, second=0, microsecond=0)
    window = TimeWindow(start, start + timedelta(days=30))
    # afterDate promises the records after the named day (the user's local day).
    first_day = start.date().isoformat()
    inside = {r["logId"] for r in truth
              if r["startTime"][:10] > first_day and _utc(r["startTime"]) < window.end}
    assert 0 < len(inside) < 100  # the window's records fit in the first page

    async with httpx2.AsyncClient() as http:
        caller, _ = caller_for(sim, "fitbit", user)
        pages = [page async for page in Fetcher(spec, http, store).pages(
            caller, spec.resources["activity_log"], window)]
    assert len(pages) == 1  # not every page after the window's start
    got = {r["logId"] for page in pages for r in page.records}
    assert inside <= got


def test_reaching_the_end_reads_offsets_and_local_times():
    spec = load_spec(ROOT / "vendors/fitbit.yaml", env={})
    window_rules = spec.resources["activity_log"].list.window
    tw = TimeWindow(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))

    def page(*times: str) -> list[dict]:
        return [{"startTime": t} for t in times]

    assert not reached_window_end(page("2026-03-01T10:00:00.000-05:00"), tw, window_rules)
    assert reached_window_end(page("2026-03-01T10:00:00.000", "2026-03-01T20:00:00.000-05:00"), tw, window_rules)
    # Without an offset the time is local: only past the end whatever the user's zone.
    assert not reached_window_end(page("2026-03-02T10:00:00.000"), tw, window_rules)
    assert reached_window_end(page("2026-03-02T14:00:00.000"), tw, window_rules)
    assert not reached_window_end(page("not a time"), tw, window_rules)
    assert not reached_window_end([], tw, window_rules)
