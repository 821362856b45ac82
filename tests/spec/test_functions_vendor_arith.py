"""The JMESPath helpers for map-shaped series, duration strings and split dates."""

from __future__ import annotations

import pytest

from engine.spec.expr import Expr, ExprError


def search(expression: str, data: object) -> object:
    return Expr(expression).search(data)


def test_entries_turns_an_offset_map_into_key_value_items_in_order() -> None:
    data = {"samples": {"0": 61, "15": 63, "30": 60}}
    assert search("entries(samples)", data) == [
        {"key": "0", "value": 61}, {"key": "15", "value": 63}, {"key": "30", "value": 60},
    ]
    assert search("entries(samples)[].value", data) == [61, 63, 60]


def test_entries_of_a_non_object_is_null() -> None:
    assert search("entries(samples)", {"samples": [1, 2]}) is None
    assert search("entries(missing)", {}) is None


@pytest.mark.parametrize(("text", "seconds"), [
    ("3600s", 3600),
    ("-28800s", -28800),
    ("1.5s", 1.5),
    ("PT2H44M45.500S", 9885.5),
    ("PT30M", 1800),
    ("P1DT2H", 93600),
    ("PT0S", 0),
])
def test_duration_s_reads_protobuf_and_iso_8601_durations(text: str, seconds: float) -> None:
    assert search("duration_s(@)", text) == seconds


@pytest.mark.parametrize("bad", ["", "P", "PT", "1h", "PTXS", "12", 12, None, True])
def test_duration_s_of_anything_else_is_null(bad: object) -> None:
    assert search("duration_s(@)", bad) is None


def test_make_date_zero_pads_and_rejects_impossible_dates() -> None:
    assert search("make_date(d.year, d.month, d.day)", {"d": {"year": 2026, "month": 3, "day": 4}}) == "2026-03-04"
    assert search("make_date(d.year, d.month, d.day)", {"d": {"year": 2026, "month": 2, "day": 30}}) is None
    assert search("make_date(d.year, d.month, d.day)", {"d": {"year": "2026", "month": 2, "day": 1}}) is None


def test_arity_is_checked_when_the_expression_compiles() -> None:
    with pytest.raises(ExprError, match="make_date"):
        Expr("make_date(a, b)")
    with pytest.raises(ExprError, match="entries"):
        Expr("entries(a, b)")
