"""The values the vendor corrections fixed, computed by hand from the fixtures."""

from __future__ import annotations

from engine.fetch.windows import TimeWindow, plan_windows, window_values
from engine.mapping.compiler import map_page
from tests.mapping.helpers import fixture, shipped_spec

USER = "u-1"


def _samples(vendor: str, resource: str, name: str):
    return map_page(shipped_spec(vendor), resource, fixture(vendor, name), USER).samples


def _of(samples, sample_type, record_id):
    return [s for s in samples if s["sample_type"] == sample_type
            and s["provenance"]["vendor_record_id"] == record_id]


def test_oura_rejected_rest_period_yields_nothing_and_a_short_sleep_is_a_nap():
    samples = _samples("oura", "sleep", "sleep.list")
    rest = "f6a8b0c2-d4e6-4f8a-0b2c-3d5e7f9a1b07"
    # Before: a sleep_session with is_nap true, resting HR, HRV, respiration and 5 + 5 series samples.
    assert [s for s in samples if s["provenance"]["vendor_record_id"] == rest] == []
    nap = "e5f7a9b1-c3d5-4e7f-9a1b-2c4d6e8f0a96"
    (session,) = _of(samples, "sleep_session", nap)
    assert session["is_nap"] is True  # type "sleep", 40 minutes: a nap by Oura's definition
    assert (session["timestamp_utc"], session["end_utc"]) == ("2024-03-03T12:00:00Z", "2024-03-03T12:40:00Z")
    # Its series: 7 of 8 heart-rate items are not null.
    assert len(_of(samples, "heart_rate", nap)) == 7
    (main,) = _of(samples, "sleep_session", "b8f4c2a6-3d1e-4f5a-9b7c-6e8d0a2c4e61")
    assert main["is_nap"] is False  # long_sleep


def test_oura_date_windows_send_the_exclusive_end():
    window = shipped_spec("oura").resources["sleep"].list.window
    (one,) = plan_windows(*_days("2024-03-01", "2024-03-04"), window)
    # The window holds 1, 2 and 3 March; Oura reads end_date as midnight, so end_date is the 4th.
    assert window_values(one, window) == {"window.start": "2024-03-01", "window.end": "2024-03-04"}


def test_fitbit_after_date_starts_a_day_early():
    window = shipped_spec("fitbit").resources["activity_log"].list.window
    (one,) = plan_windows(*_days("2024-06-01", "2024-06-05"), window)
    # afterDate excludes the day it names: 31 May is sent so that 1 June is read.
    assert window_values(one, window)["window.start"] == "2024-05-31"


def _days(first: str, end: str):
    from datetime import UTC, datetime
    w = TimeWindow(datetime.fromisoformat(first).replace(tzinfo=UTC),
                   datetime.fromisoformat(end).replace(tzinfo=UTC))
    return w.start, w.end


def test_garmin_sleep_ends_at_its_last_level_and_in_bed_includes_awake():
    (session,) = [s for s in _samples("garmin", "sleep", "sleep.list") if s["sample_type"] == "sleep_session"]
    # start 1717193232 = 2024-05-31T22:07:12Z; last level ends 1717221231 = 2024-06-01T05:53:51Z.
    # Before: end = start + durationInSeconds (25 920, asleep only) = 05:19:12Z, in bed 25 920 s.
    assert session["timestamp_utc"] == "2024-05-31T22:07:12Z"
    assert session["end_utc"] == "2024-06-01T05:53:51Z"
    assert session["in_bed_s"] == 27999  # 25 920 asleep + 2 079 awake
    assert session["asleep_s"] == 5220 + 14340 + 6360
    (score,) = [s for s in _samples("garmin", "sleep", "sleep.list") if s["sample_type"] == "vendor_score"]
    assert score["timestamp_utc"] == "2024-06-01T05:53:51Z"


def test_garmin_sleep_end_without_levels_adds_awake_and_unmeasurable():
    record = dict(fixture("garmin", "sleep.list")[0], sleepLevelsMap=None, unmeasurableSleepInSeconds=60)
    (session,) = [s for s in map_page(shipped_spec("garmin"), "sleep", [record], USER, "list").samples
                  if s["sample_type"] == "sleep_session"]
    # 1717193232 + 25 920 + 2 079 + 60 = 1717221291 = 2024-06-01T05:54:51Z
    assert session["end_utc"] == "2024-06-01T05:54:51Z"
    assert session["in_bed_s"] == 28059


def test_polar_asleep_counts_unrecognized_sleep():
    record = dict(fixture("polar", "sleep.get"), unrecognized_sleep_stage=600)
    (session,) = [s for s in map_page(shipped_spec("polar"), "sleep", record, USER, "get").samples
                  if s["sample_type"] == "sleep_session"]
    assert session["asleep_s"] == record["light_sleep"] + record["deep_sleep"] + record["rem_sleep"] + 600


def test_fitbit_is_retired_with_its_successor():
    spec = shipped_spec("fitbit")
    assert spec.retired
    assert spec.retirement is not None
    assert (spec.retirement.support_ended, spec.retirement.turned_off, spec.retirement.successor) == (
        "2026-09-30", "2026-11-02", "google_health")
