from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.fetch.windows import TimeWindow, format_bound, plan_windows, window_values
from engine.spec.model import Window


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_splits_into_max_span_in_order_without_gaps():
    windows = plan_windows(utc(2024, 1, 1), utc(2024, 3, 31), Window(max_s=30 * 86400))
    assert [w.start for w in windows] == [utc(2024, 1, 1), utc(2024, 1, 31), utc(2024, 3, 1), utc(2024, 3, 31)][:3]
    assert windows[-1].end == utc(2024, 3, 31)
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert all(w.end - w.start <= timedelta(days=30) for w in windows)


def test_no_window_config_is_one_window_and_empty_range_is_none():
    assert plan_windows(utc(2024, 1, 1), utc(2024, 2, 1), None) == [TimeWindow(utc(2024, 1, 1), utc(2024, 2, 1))]
    assert plan_windows(utc(2024, 2, 1), utc(2024, 1, 1), None) == []


def test_date_windows_align_to_days_and_inclusive_end_names_last_day():
    config = Window(max_s=7 * 86400, format="date", end_inclusive=True)
    windows = plan_windows(utc(2024, 1, 1, 15), utc(2024, 1, 10, 3), config)
    values = [window_values(w, config) for w in windows]
    assert values == [
        {"window.start": "2024-01-01", "window.end": "2024-01-07"},
        {"window.start": "2024-01-08", "window.end": "2024-01-10"},
    ]


def test_date_windows_exclusive_end_is_next_start():
    config = Window(max_s=7 * 86400, format="date")
    windows = plan_windows(utc(2024, 1, 1), utc(2024, 1, 15), config)
    assert [window_values(w, config) for w in windows] == [
        {"window.start": "2024-01-01", "window.end": "2024-01-08"},
        {"window.start": "2024-01-08", "window.end": "2024-01-15"},
    ]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("iso", "2024-05-06T07:08:09Z"),
        ("date", "2024-05-06"),
        ("epoch_s", "1714979289"),
        ("epoch_ms", "1714979289000"),
    ],
)
def test_formats(fmt: str, expected: str):
    assert format_bound(utc(2024, 5, 6, 7, 8, 9), fmt) == expected


def test_iso_keeps_milliseconds_and_converts_offsets_to_z():
    from datetime import timezone

    value = datetime(2024, 5, 6, 9, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert format_bound(value, "iso") == "2024-05-06T07:08:09.123Z"


def test_inclusive_epoch_end_is_one_unit_before():
    config = Window(max_s=3600, format="epoch_s", end_inclusive=True)
    (window,) = plan_windows(utc(2024, 1, 1), utc(2024, 1, 1, 1), config)
    values = window_values(window, config)
    assert int(values["window.end"]) - int(values["window.start"]) == 3599


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        plan_windows(datetime(2024, 1, 1), utc(2024, 1, 2), None)


def test_payload_round_trip():
    window = TimeWindow(utc(2024, 1, 1), utc(2024, 1, 2, 3, 4, 5))
    assert TimeWindow.from_payload(window.to_payload()) == window


@given(
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    length_h=st.integers(min_value=0, max_value=24 * 400),
    span_h=st.integers(min_value=1, max_value=24 * 90),
    fmt=st.sampled_from(["iso", "date", "epoch_s", "epoch_ms"]),
)
def test_windows_cover_the_range_exactly_once(start, length_h, span_h, fmt):
    end = start + timedelta(hours=length_h)
    windows = plan_windows(start, end, Window(max_s=span_h * 3600, format=fmt))
    if length_h == 0:
        assert windows == []
        return
    assert windows[0].start <= start and windows[-1].end >= end
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert all(w.start < w.end for w in windows)
    if fmt != "date":
        assert windows[0].start == start and windows[-1].end == end


def test_strftime_pattern_renders_in_utc():
    from datetime import timezone

    value = datetime(2024, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert format_bound(value, "%Y-%m-%dT%H:%M:%S") == "2024-05-06T07:08:09"
    with pytest.raises(ValueError):
        format_bound(value, "bogus")
