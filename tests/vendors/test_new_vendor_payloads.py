"""One example payload per newly catalogued vendor, from the best public source, mapped through
the shipped spec and checked value by value against hand-computed numbers and units."""

from __future__ import annotations

import json
from pathlib import Path

from engine.mapping.compiler import map_page
from engine.spec.loader import load_spec
from engine.webhooks.events import extract_events
from engine.webhooks.routing import route_event

ROOT = Path(__file__).resolve().parents[2]


def spec(vendor: str):
    return load_spec(ROOT / "vendors" / f"{vendor}.yaml", env={})


def fixture(vendor: str, name: str):
    return json.loads((ROOT / "vendors" / vendor / "fixtures" / f"{name}.json").read_text())


def test_wahoo_documented_workout_summary_webhook():
    # The sample webhook message of the Wahoo Cloud API reference (webhooks, Workout Summary):
    # calories_accum kcal, distance_accum m, durations s, heart_rate_avg bpm, speed m/s.
    wahoo = spec("wahoo")
    assert wahoo.webhooks is not None
    (event,) = extract_events("wahoo", wahoo.webhooks.events, fixture("wahoo", "webhook.workout_summary"))
    assert (event.event_type, event.vendor_user_id, event.object_id) == ("workout_summary", "60462", "56519")
    (route,) = route_event(wahoo, event, received_at=0.0).jobs
    assert (route.payload.action, route.payload.resource) == ("ingest", "workouts")
    (sample,) = map_page(wahoo, "workouts", {"workouts": [route.payload.data]}, "u").samples
    assert sample["timestamp_utc"] == "2015-08-12T09:00:00Z"
    assert sample["end_utc"] == "2015-08-12T09:04:35Z"  # starts + duration_total_accum 275 s
    assert sample["kcal"] == 1500
    assert sample["distance_m"] == 24909.71
    assert sample["avg_hr_bpm"] == 124
    assert sample["duration_s"] == 179  # duration_active_accum; 95 s paused
    assert sample["activity"] == "40"
    assert sample["meta"]["avg_speed_m_s"] == 10.75
    assert sample["meta"]["work_j"] == 104148000
    assert sample["meta"]["paused_s"] == 95
    assert sample["provenance"]["vendor_record_id"] == "56519"
    assert sample["provenance"]["vendor_updated_at"] == "2018-10-23T20:43:50Z"


def test_ultrahuman_documented_day_of_metrics():
    # The Partnership API's `hr` series as quoted by sensorfabric-py (templates.py) and the Sleep
    # shape Open Wearables documents (quick_metrics time_in_bed 27000 s, deep_sleep 3240 s).
    page = {"data": {"metric_data": [
        {"type": "hr", "object": {"day_start_timestamp": 1671739200, "title": "Heart Rate",
                                  "values": [{"value": 81, "timestamp": 1671739294},
                                             {"value": 94, "timestamp": 1671739586}],
                                  "last_reading": 78, "unit": "BPM"}},
        {"type": "Sleep", "object": {"bedtime_start": 1671750000, "bedtime_end": 1671777000,
                                     "quick_metrics": [{"type": "time_in_bed", "value": 27000}],
                                     "sleep_stages": [{"type": "deep_sleep", "stage_time": 3240},
                                                      {"type": "light_sleep", "stage_time": 14400},
                                                      {"type": "rem_sleep", "stage_time": 6300},
                                                      {"type": "awake", "stage_time": 3060}]}},
    ]}}
    result = map_page(spec("ultrahuman"), "metrics", page, "u")
    hr = [s for s in result.samples if s["sample_type"] == "heart_rate"]
    assert [(s["timestamp_utc"], s["bpm"]) for s in hr] == [
        ("2022-12-22T20:01:34Z", 81), ("2022-12-22T20:06:26Z", 94)]
    (night,) = [s for s in result.samples if s["sample_type"] == "sleep_session"]
    assert (night["timestamp_utc"], night["end_utc"]) == ("2022-12-22T23:00:00Z", "2022-12-23T06:30:00Z")
    assert night["in_bed_s"] == 27000  # 7 h 30 min, the bedtime span
    assert (night["deep_s"], night["light_s"], night["rem_s"], night["awake_s"]) == (3240, 14400, 6300, 3060)
    assert night["asleep_s"] == 3240 + 14400 + 6300


def test_coros_documented_workout_push():
    # The push body of the COROS API Reference v2.0.6 as digested in Nmdk1/StrideIQ
    # (docs/COROS_API_APPLICATION.md, "Webhook Request Format"): distance m, startTime/endTime
    # epoch s, avgSpeed s/km, avgFrequency steps/min; calorie's unit is not stated (meta only).
    coros = spec("coros")
    assert coros.webhooks is not None
    body = {"sportDataList": [{"openId": "user_id", "labelId": "workout_id", "mode": 8, "subMode": 1,
                               "distance": 10000, "calorie": 500, "avgSpeed": 300, "avgFrequency": 180,
                               "startTime": 1234567890, "endTime": 1234571490,
                               "fitUrl": "https://oss.coros.com/fit/xxx.fit"}]}
    (event,) = extract_events("coros", coros.webhooks.events, body)
    assert (event.event_type, event.vendor_user_id, event.object_id) == ("sport", "user_id", "workout_id")
    (route,) = route_event(coros, event, received_at=0.0).jobs
    assert (route.payload.action, route.payload.resource) == ("ingest", "sport")
    (sample,) = map_page(coros, "sport", {"data": [route.payload.data]}, "u").samples
    assert (sample["timestamp_utc"], sample["end_utc"]) == ("2009-02-13T23:31:30Z", "2009-02-14T00:31:30Z")
    assert sample["duration_s"] == 3600
    assert sample["distance_m"] == 10000
    assert sample["activity"] == "8/1"  # outdoor run
    assert "kcal" not in sample
    assert sample["meta"] == {"calorie": 500, "avg_pace_s_per_km": 300, "avg_cadence_spm": 180}
    assert coros.webhooks.ack.accepted is not None
    assert coros.webhooks.ack.accepted.body == b'{"result":"0000","message":"OK"}'


def test_suunto_workout_and_sleep_as_the_open_integration_reads_them():
    # Field names and units as Open Wearables reads them (suunto/workouts.py, data_247.py):
    # startTime/stopTime epoch ms, totalTime s, totalDistance m, energyConsumption kcal,
    # hrdata.avg and hrdata.hrmax bpm (hrdata.max is the user's configured maximum, not used);
    # sleep entryData durations in s, BedtimeStart/End ISO.
    suunto = spec("suunto")
    workout = {"workoutKey": "5c1d", "activityId": 3, "startTime": 1767610800000, "stopTime": 1767614400000,
               "totalTime": 3540, "totalDistance": 10012.5, "energyConsumption": 712,
               "hrdata": {"avg": 148, "hrmax": 171, "max": 190}, "gear": {"displayName": "Suunto Race"}}
    (sample,) = map_page(suunto, "workouts", {"payload": [workout]}, "u").samples
    assert (sample["timestamp_utc"], sample["end_utc"]) == ("2026-01-05T11:00:00Z", "2026-01-05T12:00:00Z")
    assert (sample["duration_s"], sample["distance_m"], sample["kcal"]) == (3540, 10012.5, 712)
    assert (sample["avg_hr_bpm"], sample["max_hr_bpm"]) == (148, 171)  # not the configured 190
    assert sample["device"] == "Suunto Race"
    night = {"timestamp": "2026-01-06T05:32:00.000+00:00", "entryData": {
        "BedtimeStart": "2026-01-05T23:41:00.000+01:00", "BedtimeEnd": "2026-01-06T06:32:00.000+01:00",
        "Duration": 24660, "DeepSleepDuration": 5220, "LightSleepDuration": 13500, "REMSleepDuration": 4680,
        "IsNap": False, "SleepId": 1767652860}}
    (sleep,) = map_page(suunto, "sleep", [night], "u").samples
    assert (sleep["timestamp_utc"], sleep["end_utc"]) == ("2026-01-05T22:41:00Z", "2026-01-06T05:32:00Z")
    assert sleep["tz_offset_min"] == 60 and sleep["local_date"] == "2026-01-05"
    assert (sleep["in_bed_s"], sleep["asleep_s"]) == (24660, 5220 + 13500 + 4680)  # 6 h 51 min, 6 h 30 min
    assert sleep["is_nap"] is False


def test_zepp_documented_examples_in_the_users_zone():
    # The example responses of zepp-health/rest-api api-doc.html (activities, sleep, heartrates,
    # body), for a person in Asia/Shanghai (UTC+8, no DST), the zone the app gave at connect.
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from engine.mapping.zones import ZoneEntry, ZoneHistory

    zepp = spec("zepp")
    shanghai = ZoneHistory([ZoneEntry(datetime(2000, 1, 1, tzinfo=UTC), ZoneInfo("Asia/Shanghai"), "app",
                                      "Asia/Shanghai")])

    activity = {"items": [{"date": "2016-08-01", "lastSyncTime": 1470038400, "steps": 5000, "distance": 4000,
                           "walkTime": 60, "runDistance": 2000, "runTime": 30, "calories": 400,
                           "runCalories": 200, "hour": 4}]}
    by_type = {s["sample_type"]: s for s in map_page(zepp, "activities", activity, "u", zones=shanghai).samples}
    assert by_type["steps"]["count"] == 5000
    assert by_type["distance"]["meters"] == 4000  # "Total distance ... unit meter"
    assert by_type["active_energy"]["kcal"] == 400  # "unit kcal"
    # 2016-08-01 00:00 in Shanghai is 2016-07-31 16:00 UTC; the day ends 24 h later.
    assert (by_type["steps"]["timestamp_utc"], by_type["steps"]["end_utc"]) == (
        "2016-07-31T16:00:00Z", "2016-08-01T16:00:00Z")
    assert (by_type["steps"]["local_date"], by_type["steps"]["tz_offset_min"]) == ("2016-08-01", 480)

    sleep = {"items": [{"date": "2016-08-01", "lastSyncTime": 1470038400, "deepSleepTime": 155,
                        "shallowSleepTime": 322, "wakeTime": 0, "start": -9, "stop": 45, "sleepScore": 88,
                        "mode": 4}]}
    result = map_page(zepp, "sleep", sleep, "u", zones=shanghai).samples
    (night,) = [s for s in result if s["sample_type"] == "sleep_session"]
    # minute -9 of 2016-08-01 is 23:51 local the evening before (15:51 UTC); minute 45 is 00:45.
    assert (night["timestamp_utc"], night["end_utc"]) == ("2016-07-31T15:51:00Z", "2016-07-31T16:45:00Z")
    assert (night["deep_s"], night["light_s"], night["awake_s"]) == (155 * 60, 322 * 60, 0)
    assert night["asleep_s"] == (155 + 322) * 60
    (score,) = [s for s in result if s["sample_type"] == "vendor_score"]
    assert (score["kind"], score["score"], score["scale_max"]) == ("sleep", 88, 100)

    beats = {"items": [{"date": "2016-08-01", "minute": 1, "lastSyncTime": 1484729399, "heartRateData": 60,
                        "timestamp": 1484729199, "measureType": "AUTO"}]}
    (beat,) = map_page(zepp, "heart_rate", beats, "u", zones=shanghai).samples
    assert (beat["timestamp_utc"], beat["bpm"], beat["context"]) == ("2017-01-18T08:46:39Z", 60, "all_day")

    body = {"items": [{"weight": 55.5, "height": 175.5, "bmi": 50.2, "fatRate": 25.2, "weightType": 0,
                       "timestamp": 123456789}]}
    weighed = {s["sample_type"]: s for s in map_page(zepp, "body", body, "u", zones=shanghai).samples}
    assert weighed["weight"]["kg"] == 55.5 and weighed["body_fat"]["pct"] == 25.2
    assert weighed["weight"]["timestamp_utc"] == "1973-11-29T21:33:09Z"
