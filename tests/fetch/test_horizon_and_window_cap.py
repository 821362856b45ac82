"""Every list endpoint has a history horizon (two years unless the spec names one), and a spec
whose whole horizons would need more windows than one sync may queue does not compile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.fetch.windows import count_windows, plan_windows
from engine.spec.compile import compile_spec
from engine.spec.errors import SpecError
from engine.spec.model import DEFAULT_HORIZON_S, MAX_SYNC_WINDOWS, Window
from tests.examples import examples

from .helpers import minimal_raw

ENV = {"TV_ID": "id", "TV_SECRET": "secret"}


def spec_with(lists: dict[str, dict]) -> dict:
    raw = minimal_raw()
    raw["resources"] = {
        name: {"list": {"request": {"path": f"/{name}"}, "records": "data", **extra}}
        for name, extra in lists.items()
    }
    return raw


def test_a_list_without_a_horizon_gets_the_two_year_default():
    spec = compile_spec(spec_with({"sleep": {"window": {"max": "30d"}},
                                   "hrv": {"window": {"max": "30d"}, "horizon": "90d"}}), env=ENV)
    assert DEFAULT_HORIZON_S == 730 * 86400
    assert spec.resources["sleep"].list.horizon_s == DEFAULT_HORIZON_S
    assert spec.resources["hrv"].list.horizon_s == 90 * 86400


def test_a_spec_whose_whole_horizons_need_too_many_windows_does_not_compile():
    # Hour windows over the default two years: 17,520 windows for one resource.
    with pytest.raises(SpecError) as raised:
        compile_spec(spec_with({"heart_rate": {"window": {"max": "1h"}}}), env=ENV)
    [issue] = [i for i in raised.value.issues if i.code == "sync.too_many_windows"]
    assert tuple(issue.json_path) == ("resources", "heart_rate", "list")
    assert "17520 windows" in issue.message and str(MAX_SYNC_WINDOWS) in issue.message
    # A horizon that fits, or a wider window, compiles.
    compile_spec(spec_with({"heart_rate": {"window": {"max": "1h"}, "horizon": "30d"}}), env=ENV)
    compile_spec(spec_with({"heart_rate": {"window": {"max": "1d", "format": "date"}}}), env=ENV)


def test_the_cap_counts_every_resource_of_the_spec():
    day_lists = {f"r{i}": {"window": {"max": "1d", "format": "date"}} for i in range(2)}
    with pytest.raises(SpecError) as raised:
        compile_spec(spec_with(day_lists), env=ENV)  # 2 × 731 windows
    assert any(i.code == "sync.too_many_windows" for i in raised.value.issues)


WINDOWS = st.one_of(
    st.none(),
    st.builds(Window, max_s=st.integers(1, 400 * 86400),
              format=st.sampled_from(["iso", "date", "epoch_s", "epoch_ms"])),
)
BASE = datetime(2024, 1, 1, tzinfo=UTC)


@settings(max_examples=examples(200), deadline=None)
@given(window=WINDOWS, start=st.integers(0, 800 * 86400), length=st.integers(-86400, 900 * 86400))
def test_counting_windows_agrees_with_planning_them(window, start, length):
    since = BASE + timedelta(seconds=start)
    until = since + timedelta(seconds=length)
    if window is not None and window.format != "date" and length > window.max_s * 2000:
        return  # keep the planned list small
    assert count_windows(since, until, window) == len(plan_windows(since, until, window))


def test_counting_a_huge_range_does_not_build_it():
    since = datetime(1, 1, 1, tzinfo=UTC)
    until = datetime(2025, 1, 1, tzinfo=UTC)
    assert count_windows(since, until, Window(max_s=30 * 86400)) == 24_642  # ceil(739,251 days / 30)
