"""Time formats, zones, unit scales, range and type checks on small inline mappings."""

from __future__ import annotations

import pytest

from engine.mapping.dedup import split_dedup_key
from engine.mapping.result import MappingError
from engine.mapping.sample_mapper import SampleMapper
from engine.spec.catalogue import CATALOGUE
from engine.spec.expr import Expr
from engine.spec.model import SampleMapping, TimeField, ValueField
from tests.mapping.helpers import assert_valid_samples, inline_mapper, value

HR = [value("bpm", "v", "bpm")]


def _one(mapper, record, user="u1"):
    result = mapper.map_record(record, user)
    assert_valid_samples(result.samples)
    assert len(result.samples) == 1, result
    return result.samples[0], result.warnings


# --- time formats -------------------------------------------------------------------------------

def test_epoch_seconds():
    sample, _ = _one(inline_mapper("heart_rate", HR, start_format="epoch_s"), {"id": 1, "t": 1709366400, "v": 60})
    assert sample["timestamp_utc"] == "2024-03-02T08:00:00Z"
    assert sample["tz_offset_min"] is None
    assert sample["local_date"] == "2024-03-02"


def test_epoch_milliseconds_keep_millis():
    sample, _ = _one(inline_mapper("heart_rate", HR, start_format="epoch_ms"), {"id": 1, "t": 1709366400123, "v": 60})
    assert sample["timestamp_utc"] == "2024-03-02T08:00:00.123Z"


def test_epoch_seconds_with_offset_seconds():
    mapper = inline_mapper("heart_rate", HR, start_format="epoch_s", tz="off", tz_format="seconds")
    sample, _ = _one(mapper, {"id": 1, "t": 1709335800, "off": -18000, "v": 60})  # 23:30Z
    assert sample["timestamp_utc"] == "2024-03-01T23:30:00Z"
    assert sample["tz_offset_min"] == -300
    assert sample["local_date"] == "2024-03-01"


def test_offset_minutes_move_the_local_date():
    mapper = inline_mapper("heart_rate", HR, start_format="epoch_s", tz="off", tz_format="minutes")
    sample, _ = _one(mapper, {"id": 1, "t": 1709335800, "off": 570, "v": 60})  # 23:30Z +09:30
    assert sample["tz_offset_min"] == 570
    assert sample["local_date"] == "2024-03-02"


def test_date_format_is_local_midnight_in_the_given_offset():
    mapper = inline_mapper("weight", [value("kg", "w", "kg")], start_format="date", tz="tz")
    sample, _ = _one(mapper, {"id": "a", "t": "2024-03-02", "tz": "-04:00", "w": 70})
    assert sample["timestamp_utc"] == "2024-03-02T04:00:00Z"
    assert sample["tz_offset_min"] == -240
    assert sample["local_date"] == "2024-03-02"


def test_date_format_without_zone_is_utc_with_unknown_offset():
    mapper = inline_mapper("weight", [value("kg", "w", "kg")], start_format="date")
    sample, _ = _one(mapper, {"id": "a", "t": "2024-03-02", "w": 70})
    assert (sample["timestamp_utc"], sample["tz_offset_min"], sample["local_date"]) == (
        "2024-03-02T00:00:00Z", None, "2024-03-02")


def test_strftime_pattern_naive_local_time_with_offset_string():
    mapper = inline_mapper("heart_rate", HR, start_format="%d/%m/%Y %H:%M", tz="tz")
    sample, _ = _one(mapper, {"id": 1, "t": "02/03/2024 07:15", "tz": "+0530", "v": 61})
    assert sample["timestamp_utc"] == "2024-03-02T01:45:00Z"
    assert sample["tz_offset_min"] == 330


@pytest.mark.parametrize(("text", "minutes"), [("-04:00", -240), ("Z", 0), ("+05:45", 345), ("+01", 60)])
def test_offset_strings(text, minutes):
    mapper = inline_mapper("heart_rate", HR, tz="tz")
    sample, _ = _one(mapper, {"id": 1, "t": "2024-03-02T12:00:00Z", "tz": text, "v": 60})
    assert sample["tz_offset_min"] == minutes
    assert sample["timestamp_utc"] == "2024-03-02T12:00:00Z"  # an aware instant is kept


@pytest.mark.parametrize(("local", "utc", "offset"), [
    ("2024-03-09T12:00:00", "2024-03-09T17:00:00Z", -300),  # before the DST change: EST
    ("2024-03-11T12:00:00", "2024-03-11T16:00:00Z", -240),  # after: EDT
])
def test_iana_zone_applies_the_offset_of_that_day(local, utc, offset):
    mapper = inline_mapper("heart_rate", HR, tz="zone", tz_format="iana")
    sample, _ = _one(mapper, {"id": 1, "t": local, "zone": "America/New_York", "v": 60})
    assert (sample["timestamp_utc"], sample["tz_offset_min"]) == (utc, offset)


def test_iana_zone_with_epoch_instant():
    mapper = inline_mapper("heart_rate", HR, start_format="epoch_s", tz="zone", tz_format="iana")
    sample, _ = _one(mapper, {"id": 1, "t": 1719835200, "zone": "Europe/Paris", "v": 60})  # 2024-07-01T12Z
    assert sample["tz_offset_min"] == 120
    assert sample["timestamp_utc"] == "2024-07-01T12:00:00Z"


def test_own_offset_used_when_no_tz_field():
    sample, _ = _one(inline_mapper("heart_rate", HR), {"id": 1, "t": "2024-03-02T00:30:00-04:00", "v": 60})
    assert sample["timestamp_utc"] == "2024-03-02T04:30:00Z"
    assert sample["tz_offset_min"] == -240
    assert sample["local_date"] == "2024-03-02"


def test_unknown_zone_is_reported_and_ignored():
    mapper = inline_mapper("heart_rate", HR, tz="zone", tz_format="iana")
    sample, warnings = _one(mapper, {"id": 1, "t": "2024-03-02T00:30:00+01:00", "zone": "Mars/Olympus", "v": 60})
    assert sample["tz_offset_min"] == 60
    assert [w.code for w in warnings] == ["tz.unparsable"]


def test_vendor_day_overrides_local_date_and_a_bad_one_is_reported():
    mapper = inline_mapper("heart_rate", HR, local_date="day")
    sample, _ = _one(mapper, {"id": 1, "t": "2024-03-02T00:30:00+01:00", "day": "2024-03-01", "v": 60})
    assert sample["local_date"] == "2024-03-01"
    sample, warnings = _one(mapper, {"id": 1, "t": "2024-03-02T00:30:00+01:00", "day": "March 1", "v": 60})
    assert sample["local_date"] == "2024-03-02"
    assert [w.code for w in warnings] == ["time.local_date"]


@pytest.mark.parametrize("start", [None, "yesterday", 17, "2024-13-40T00:00:00Z"])
def test_missing_or_bad_start_skips_the_sample_with_a_warning(start):
    result = inline_mapper("heart_rate", HR).map_record({"id": 7, "t": start, "v": 60}, "u1")
    assert result.samples == []
    assert [(w.code, w.record_id) for w in result.warnings] == [("time.start", "7")]


def test_interval_end_and_end_before_start():
    steps = [value("count", "n", "count")]
    mapper = inline_mapper("steps", steps, end="e", tz="tz")
    record = {"id": 1, "t": "2024-03-02T08:00:00", "e": "2024-03-02T09:00:00", "tz": "+02:00", "n": 500}
    sample, _ = _one(mapper, record)
    assert (sample["timestamp_utc"], sample["end_utc"]) == ("2024-03-02T06:00:00Z", "2024-03-02T07:00:00Z")
    result = mapper.map_record({"id": 1, "t": "2024-03-02T08:00:00Z", "e": "2024-03-02T07:00:00Z", "n": 5}, "u1")
    assert result.samples == [] and [w.code for w in result.warnings] == ["time.end_before_start"]


def test_updated_at_is_normalized_to_utc():
    mapper = inline_mapper("heart_rate", HR, updated_at="u")
    sample, _ = _one(mapper, {"id": 1, "t": "2024-03-02T00:30:00Z", "u": "2024-03-02T10:00:00+02:00", "v": 60})
    assert sample["provenance"]["vendor_updated_at"] == "2024-03-02T08:00:00Z"


# --- units, scales, ranges ----------------------------------------------------------------------

@pytest.mark.parametrize(("sample_type", "field", "unit", "raw", "expected"), [
    ("total_energy", "kcal", "kJ", 4184, 1000),
    ("sleep_session", "in_bed_s", "ms", 27180000, 27180),
    ("sleep_session", "in_bed_s", "min", 453, 27180),
    ("sleep_session", "in_bed_s", "h", 7.55, 27180),
    ("distance", "meters", "km", 5.2, 5200),
    ("distance", "meters", "mi", 1, 1609.344),
    ("weight", "kg", "g", 72500, 72.5),
    ("weight", "kg", "lb", 100, 45.359237),
    ("skin_temp", "celsius", "degF", 93.2, 34),
    ("spo2", "pct", "fraction", 0.97, 97),
    ("glucose", "mg_dl", "mmol/L", 5.5, 99.1001),
    ("hrv_rmssd", "rmssd_ms", "s", 0.042, 42),
])
def test_unit_conversions(sample_type, field, unit, raw, expected):
    mapper = inline_mapper(sample_type, [value(field, "x", unit)])
    sample, warnings = _one(mapper, {"id": 1, "t": "2024-03-02T00:00:00Z", "x": raw})
    assert sample[field] == expected
    assert warnings == []


def test_out_of_range_optional_value_is_dropped_and_reported():
    mapper = inline_mapper("sleep_session", [value("in_bed_s", "a", "ms"), value("efficiency_pct", "b", "%")])
    sample, warnings = _one(mapper, {"id": "s1", "t": "2024-03-02T00:00:00Z", "a": 3600000, "b": 140})
    assert sample["in_bed_s"] == 3600 and "efficiency_pct" not in sample
    assert [(w.code, w.field, w.record_id) for w in warnings] == [("value.rejected", "efficiency_pct", "s1")]
    assert "outside [0, 100]" in warnings[0].message


def test_out_of_range_required_value_drops_the_sample():
    result = inline_mapper("heart_rate", HR).map_record({"id": 3, "t": "2024-03-02T00:00:00Z", "v": 400}, "u1")
    assert result.samples == []
    assert [(w.code, w.field) for w in result.warnings] == [("value.rejected", "bpm")]


def test_scale_is_applied_before_the_range_check():
    mapper = inline_mapper("spo2", [value("pct", "x", "fraction")])
    result = mapper.map_record({"id": 1, "t": "2024-03-02T00:00:00Z", "x": 97}, "u1")  # 9700 %
    assert result.samples == [] and "9700" in result.warnings[0].message


@pytest.mark.parametrize("raw", ["60", True, [60], {"v": 60}, float("nan")])
def test_non_numeric_values_are_dropped_and_reported(raw):
    mapper = inline_mapper("workout", [value("activity", "a"), value("kcal", "k", "kcal")])
    sample, warnings = _one(mapper, {"id": 1, "t": "2024-03-02T00:00:00Z", "a": "run", "k": raw})
    assert "kcal" not in sample
    assert [(w.code, w.field) for w in warnings] == [("value.rejected", "kcal")]


def test_missing_optional_is_absent_and_missing_required_is_reported():
    mapper = inline_mapper("workout", [value("activity", "a"), value("kcal", "k", "kcal")])
    sample, warnings = _one(mapper, {"id": 1, "t": "2024-03-02T00:00:00Z"})
    assert "kcal" not in sample and "activity" not in sample and warnings == []
    result = inline_mapper("heart_rate", HR).map_record({"id": 1, "t": "2024-03-02T00:00:00Z"}, "u1")
    assert result.samples == [] and [w.code for w in result.warnings] == ["value.required_missing"]


def test_strings_enums_booleans_and_constants():
    mapper = inline_mapper("sleep_stage", [value("stage", "s")], end="e")
    base = {"id": 1, "t": "2024-03-02T00:00:00Z", "e": "2024-03-02T00:05:00Z"}
    sample, _ = _one(mapper, {**base, "s": "deep"})
    assert sample["stage"] == "deep"
    result = mapper.map_record({**base, "s": "dreaming"}, "u1")
    assert result.samples == [] and "not one of" in result.warnings[0].message
    nap = inline_mapper("sleep_session", [value("is_nap", "n")])
    assert _one(nap, {**base, "n": False})[0]["is_nap"] is False
    sample, warnings = _one(nap, {**base, "n": "yes"})
    assert "is_nap" not in sample and warnings[0].field == "is_nap"
    score = inline_mapper("vendor_score", [value("kind", const="readiness"), value("score", "x", "score"),
                                           value("scale_max", const=100, unit="score")])
    sample, _ = _one(score, {**base, "x": 71})
    assert (sample["kind"], sample["score"], sample["scale_max"]) == ("readiness", 71, 100)


# --- each, when, keys ---------------------------------------------------------------------------

def test_each_explodes_with_index_and_record_context():
    mapper = inline_mapper(
        "heart_rate", [value("bpm", "item", "bpm")], each="series.items", when="item != null",
        record_id="record.id", start="add_seconds(record.series.start, mul(index, record.series.step))")
    record = {"id": "r|1", "series": {"start": "2024-03-02T00:00:00+01:00", "step": 60, "items": [50, None, 52]}}
    result = mapper.map_record(record, "u%1")
    assert_valid_samples(result.samples)
    assert [(s["timestamp_utc"], s["bpm"]) for s in result.samples] == [
        ("2024-03-01T23:00:00Z", 50), ("2024-03-01T23:02:00Z", 52)]
    key = result.samples[1]["dedup_key"]
    assert key == "u%251|test|things|heart_rate|r%7C1|2024-03-01T23:02:00Z"
    assert split_dedup_key(key) == ["u%1", "test", "things", "heart_rate", "r|1", "2024-03-01T23:02:00Z"]


def test_each_over_a_missing_array_gives_nothing():
    mapper = inline_mapper("heart_rate", [value("bpm", "item", "bpm")], each="items")
    assert mapper.map_record({"id": 1, "items": None}, "u1").samples == []


def test_when_false_or_null_skips_silently():
    mapper = inline_mapper("heart_rate", HR, when="ok")
    base = {"id": 1, "t": "2024-03-02T00:00:00Z", "v": 60}
    assert mapper.map_record({**base, "ok": False}, "u1").warnings == []
    assert mapper.map_record({**base, "ok": False}, "u1").samples == []
    assert mapper.map_record(base, "u1").samples == []
    assert len(mapper.map_record({**base, "ok": True}, "u1").samples) == 1


def test_key_falls_back_to_start_without_a_record_id():
    sample, _ = _one(inline_mapper("heart_rate", HR, record_id=None), {"t": "2024-03-02T00:00:00Z", "v": 60})
    assert sample["dedup_key"] == "u1|test|things|heart_rate|2024-03-02T00:00:00Z"
    assert sample["provenance"]["vendor_record_id"] is None


def test_records_that_are_not_objects_are_reported():
    result = inline_mapper("heart_rate", HR).map_records([1, "x", None], "u1")
    assert result.samples == [] and [w.code for w in result.warnings] == ["record.not_object"] * 3


def test_mappings_that_do_not_fit_the_catalogue_fail_at_compile_time():
    def build(values):
        mapping = SampleMapping(type="heart_rate", values=tuple(values), start=TimeField(Expr("t")))
        return SampleMapper("test", "things", mapping, CATALOGUE)

    with pytest.raises(MappingError, match="cannot convert ms"):
        build([ValueField("bpm", Expr("v"), unit="ms")])
    with pytest.raises(MappingError, match="required value field"):
        build([ValueField("context", Expr("c"))])
    with pytest.raises(MappingError, match="no value field"):
        build([ValueField("rmssd_ms", Expr("v"), unit="ms"), ValueField("bpm", Expr("v"), unit="bpm")])
