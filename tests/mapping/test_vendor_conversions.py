"""Hand-computed checks of every conversion the WHOOP and Oura specs rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.mapping.compiler import compile_resource_mapper, map_page
from tests.mapping.helpers import assert_valid_samples, fixture, shipped_spec

USER = "u-42"


def _map(vendor: str, resource: str, name: str):
    result = map_page(shipped_spec(vendor), resource, fixture(vendor, name), USER)
    assert result.warnings == []
    assert_valid_samples(result.samples)
    return result.samples


def _only(samples, sample_type, record_id=None):
    found = [s for s in samples if s["sample_type"] == sample_type
             and (record_id is None or s["provenance"]["vendor_record_id"] == record_id)]
    assert len(found) == 1, found
    return found[0]


def test_whoop_workout_kilojoules_become_kilocalories_and_offset_minutes():
    samples = _map("whoop", "workout", "workout.get")
    workout = _only(samples, "workout")
    assert workout["kcal"] == 1000  # 4184 kJ / 4.184
    assert workout["distance_m"] == 10012.5
    assert workout["tz_offset_min"] == -240  # "-04:00"
    assert workout["timestamp_utc"] == "2024-03-02T21:59:24Z"
    assert workout["end_utc"] == "2024-03-02T22:59:24Z"
    assert workout["local_date"] == "2024-03-02"  # 17:59 local
    assert workout["activity"] == "running"
    strain = _only(samples, "vendor_score")
    assert (strain["kind"], strain["score"], strain["scale_max"]) == ("workout_strain", 8.2463, 21)


def test_whoop_workout_without_distance_leaves_the_field_absent():
    samples = _map("whoop", "workout", "workout.list")
    lift = _only(samples, "workout", "9c8b7a6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d")
    assert "distance_m" not in lift
    assert lift["kcal"] == 300  # 1255.2 kJ / 4.184


def test_whoop_sleep_stage_durations_are_seconds():
    sleep = _only(_map("whoop", "sleep", "sleep.get"), "sleep_session")
    assert sleep["in_bed_s"] == 27180  # 27 180 000 ms
    assert sleep["awake_s"] == 1800
    assert sleep["light_s"] == 12600
    assert sleep["deep_s"] == 6300  # slow-wave sleep
    assert sleep["rem_s"] == 6480
    assert sleep["asleep_s"] == 12600 + 6300 + 6480
    assert sleep["efficiency_pct"] == 91.695338
    assert sleep["is_nap"] is False
    assert sleep["tz_offset_min"] == -300
    assert sleep["local_date"] == "2024-03-01"  # started 22:52 local
    assert sleep["provenance"]["vendor_updated_at"] == "2024-03-02T11:25:44.774Z"


def test_whoop_nap_and_pending_score():
    samples = _map("whoop", "sleep", "sleep.list")
    nap = _only(samples, "sleep_session", "7a9e3c52-1d4b-4b8a-b6f0-2e5c9d8a1f43")
    assert nap["is_nap"] is True
    assert nap["rem_s"] == 0
    pending = "b2d0f6e1-5c3a-4f7e-8d21-9e4a7c6b5d30"
    assert not [s for s in samples if s["provenance"]["vendor_record_id"] == pending]
    # the nap has no sleep performance, so no score for it
    assert len([s for s in samples if s["sample_type"] == "vendor_score"]) == 1


def test_whoop_recovery_hrv_is_rmssd_in_milliseconds():
    samples = _map("whoop", "recovery", "recovery.get")
    hrv = _only(samples, "hrv_rmssd")
    assert hrv["rmssd_ms"] == 31.813562
    assert not [s for s in samples if s["sample_type"] == "hrv_sdnn"]
    assert _only(samples, "resting_heart_rate")["bpm"] == 64
    assert _only(samples, "spo2")["pct"] == 95.6875
    assert _only(samples, "skin_temp")["celsius"] == 33.7
    score = _only(samples, "vendor_score")
    assert (score["kind"], score["score"], score["scale_max"]) == ("recovery", 44, 100)
    assert hrv["provenance"]["vendor_record_id"] == "ecfc6a15-4661-442f-a9a4-f160dd7afae8"


def test_whoop_recovery_without_spo2_and_pending_give_fewer_samples():
    samples = _map("whoop", "recovery", "recovery.list")
    kinds = sorted(s["sample_type"] for s in samples
                   if s["provenance"]["vendor_record_id"] == "3f1c2a44-8b7d-4e2f-9a61-0c5d2b8e7f10")
    assert kinds == ["hrv_rmssd", "resting_heart_rate", "vendor_score"]
    assert len(samples) == 5 + 3


def test_whoop_cycle_energy_only_when_closed():
    samples = _map("whoop", "cycle", "cycle.list")
    energy = _only(samples, "total_energy")
    assert energy["provenance"]["vendor_record_id"] == "93845"  # integer id, as a string
    assert energy["kcal"] == 2000  # 8368 kJ
    assert [s["provenance"]["vendor_record_id"] for s in samples] == ["93845", "93845"]


def test_recovery_and_sleep_scores_sharing_an_id_keep_distinct_keys():
    recovery = _only(_map("whoop", "recovery", "recovery.get"), "vendor_score")
    sleep = _only(_map("whoop", "sleep", "sleep.get"), "vendor_score")
    assert recovery["provenance"]["vendor_record_id"] == sleep["provenance"]["vendor_record_id"]
    assert recovery["dedup_key"] != sleep["dedup_key"]


def test_oura_sleep_series_items_become_one_sample_each_at_their_own_time():
    record = fixture("oura", "sleep.list")["data"][0]
    samples = _map("oura", "sleep", "sleep.list")
    main_id = record["id"]
    heart = [s for s in samples if s["sample_type"] == "heart_rate"
             and s["provenance"]["vendor_record_id"] == main_id]
    start = datetime.fromisoformat(record["heart_rate"]["timestamp"])
    expected = [
        ((start + timedelta(seconds=300 * i)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), bpm)
        for i, bpm in enumerate(record["heart_rate"]["items"]) if bpm is not None
    ]
    assert [(s["timestamp_utc"], s["bpm"]) for s in heart] == expected
    assert len(heart) == 90 - 3  # three null items are skipped
    assert heart[0]["timestamp_utc"] == "2024-03-01T22:20:00Z"  # item 2: 23:10+01:00 + 2 x 300 s
    assert all(s["tz_offset_min"] == 60 and s["local_date"] == "2024-03-02" for s in heart)
    assert len({s["dedup_key"] for s in heart}) == len(heart)
    assert heart[0]["dedup_key"] == f"{USER}|oura|sleep|heart_rate|{main_id}|2024-03-01T22:20:00Z"
    series_hrv = [s for s in samples if s["sample_type"] == "hrv_rmssd" and s["dedup_key"].count("|") == 5
                  and s["provenance"]["vendor_record_id"] == main_id]
    assert len(series_hrv) == 90 - 4
    assert series_hrv[0]["timestamp_utc"] == "2024-03-01T22:25:00Z"  # item 3
    assert series_hrv[0]["rmssd_ms"] == 28 + (3 * 7) % 23


def test_oura_sleep_session_uses_the_vendor_day_and_seconds():
    samples = _map("oura", "sleep", "sleep.list")
    main = _only(samples, "sleep_session", "b8f4c2a6-3d1e-4f5a-9b7c-6e8d0a2c4e61")
    assert main["timestamp_utc"] == "2024-03-01T22:10:00Z"
    assert main["end_utc"] == "2024-03-02T05:40:00Z"
    assert main["tz_offset_min"] == 60
    assert main["local_date"] == "2024-03-02"  # Oura's `day`, not the bedtime's date
    assert (main["in_bed_s"], main["asleep_s"], main["latency_s"]) == (27000, 24780, 540)
    assert main["is_nap"] is False
    nap = _only(samples, "sleep_session", "c1d3e5f7-a9b0-4c2d-8e4f-6a8b0c2d4e73")
    assert nap["is_nap"] is True
    assert not [s for s in samples if s["provenance"]["vendor_record_id"] == "d4e6f8a0-b2c4-4d6e-8f0a-1b3c5d7e9f85"]
    avg = _only([s for s in samples if s["dedup_key"].count("|") == 4], "hrv_rmssd",
                "b8f4c2a6-3d1e-4f5a-9b7c-6e8d0a2c4e61")
    assert avg["rmssd_ms"] == 38


def test_oura_heartrate_rows_are_keyed_by_time():
    samples = _map("oura", "heartrate", "heartrate.list")
    assert [s["bpm"] for s in samples] == [52, 54, 71, 68, 141, 88]
    assert samples[4]["context"] == "workout"
    assert samples[0]["dedup_key"] == f"{USER}|oura|heartrate|heart_rate|2024-03-02T05:35:00Z"
    assert samples[0]["provenance"]["vendor_record_id"] is None


def test_oura_daily_values_follow_the_activity_day():
    samples = _map("oura", "daily_activity", "daily_activity.get")
    assert _only(samples, "steps")["count"] == 9684
    assert _only(samples, "active_energy")["kcal"] == 512
    assert _only(samples, "total_energy")["kcal"] == 2618
    # equivalent_walking_distance is an energy equivalent, not a distance moved.
    assert not [s for s in samples if s["sample_type"] == "distance"]
    steps = _only(samples, "steps")
    assert steps["meta"]["equivalent_walking_distance_m"] == 8127
    assert steps["timestamp_utc"] == "2024-03-02T03:00:00Z"  # 04:00+01:00
    assert steps["local_date"] == "2024-03-02"


def test_oura_readiness_temperature_deviation_and_null_score():
    samples = _map("oura", "daily_readiness", "daily_readiness.list")
    assert _only(samples, "skin_temp_deviation")["delta_celsius"] == -0.12
    sleep_scores = _map("oura", "daily_sleep", "daily_sleep.list")
    assert [s["score"] for s in sleep_scores] == [82]  # the null score makes no sample


def test_oura_workout_without_distance():
    samples = _map("oura", "workout", "workout.list")
    gym = _only(samples, "workout", "b8c0d2e4-f6a8-4b0c-c2d4-6f8a0b2c4d50")
    assert "distance_m" not in gym
    assert gym["kcal"] == 201
    assert gym["meta"] == {"intensity": "moderate", "source": "manual"}


def test_compiled_mapper_is_reusable_across_pages():
    mapper = compile_resource_mapper(shipped_spec("whoop"), "workout")
    first = mapper.map_records(fixture("whoop", "workout.list")["records"], USER)
    again = mapper.map_record(fixture("whoop", "workout.get"), USER)
    assert again.samples == first.samples[:2]
