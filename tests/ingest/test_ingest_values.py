"""Each platform's documented sample fields, posted through the real app, come back with the
values, units (the value's name), sample types and UTC timestamps worked out by hand below."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ingest.test_ingest_api import Clock, ingest_app, issue, post, samples

pytestmark = pytest.mark.anyio


def hk(uuid: str, kind: str, start: str, end: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"uuid": uuid, "type": f"HKQuantityTypeIdentifier{kind}" if "Identifier" not in kind else kind,
            "startDate": start, "endDate": end or start, **fields}


def qty(value: float, unit: str) -> dict[str, Any]:
    return {"quantity": {"value": value, "unit": unit}}


# HealthKit dates carry the phone's offset (+01:00): 07:15+01:00 is 06:15Z.
HEALTHKIT = {"platform": "healthkit", "anchor": "opaque-anchor", "samples": [
    hk("HK-HR", "HeartRate", "2026-03-02T07:15:00.000+01:00", **qty(72, "count/min"),
       metadata={"HKHeartRateMotionContext": 1}),
    hk("HK-MASS", "BodyMass", "2026-03-02T07:20:00.000+01:00", **qty(154.2, "lb")),
    hk("HK-DIST", "DistanceWalkingRunning", "2026-03-02T08:00:00.000+01:00", "2026-03-02T09:00:00.000+01:00",
       **qty(6.2, "mi")),
    hk("HK-KJ", "ActiveEnergyBurned", "2026-03-02T08:00:00.000+01:00", "2026-03-02T08:10:00.000+01:00",
       **qty(41.8, "kJ")),
    hk("HK-O2", "OxygenSaturation", "2026-03-02T06:30:00.000+01:00", **qty(0.96, "%")),
    hk("HK-BG", "BloodGlucose", "2026-03-02T07:45:00.000+01:00", **qty(98, "mg/dL"),
       metadata={"HKBloodGlucoseMealTime": 1}),
    hk("HK-HRV", "HeartRateVariabilitySDNN", "2026-03-02T06:58:30.000+01:00", "2026-03-02T06:59:30.000+01:00",
       **qty(48.3, "ms")),
    hk("HK-SLEEP", "HKCategoryTypeIdentifierSleepAnalysis", "2026-03-02T02:10:00.000+01:00",
       "2026-03-02T03:40:00.000+01:00", value=4),  # 4 asleepDeep
    hk("HK-INBED", "HKCategoryTypeIdentifierSleepAnalysis", "2026-03-01T23:30:00.000+01:00",
       "2026-03-02T06:45:00.000+01:00", value=0),  # 0 inBed frames the night: no sample
]}


def hc(record_type: str, record_id: str, **fields: Any) -> dict[str, Any]:
    return {"recordType": record_type, **fields, "metadata": {"id": record_id,
            "dataOrigin": {"packageName": "com.example.band"}, "device": {"model": "Band 3", "type": 1}}}


# Health Connect times are instants (Z) with the zone offset beside them.
HEALTH_CONNECT = {"platform": "health_connect", "changesToken": "opaque-token", "records": [
    hc("HeartRate", "hc-hr", startTime="2026-03-02T06:15:00Z", startZoneOffset="+01:00",
       endTime="2026-03-02T06:16:00Z", endZoneOffset="+01:00",
       samples=[{"time": "2026-03-02T06:15:00Z", "beatsPerMinute": 61},
                {"time": "2026-03-02T06:15:30Z", "beatsPerMinute": 64}]),
    hc("Weight", "hc-weight", time="2026-03-02T06:20:00Z", zoneOffset="+01:00",
       weight={"value": 71.4, "unit": "kilograms"}),
    hc("Distance", "hc-dist", startTime="2026-03-02T07:00:00Z", startZoneOffset="+01:00",
       endTime="2026-03-02T07:30:00Z", endZoneOffset="+01:00", distance={"value": 4250.5, "unit": "meters"}),
    hc("OxygenSaturation", "hc-o2", time="2026-03-02T05:30:00Z", zoneOffset="+01:00", percentage=96),
    hc("SleepSession", "hc-sleep", startTime="2026-03-01T22:30:00Z", startZoneOffset="+01:00",
       endTime="2026-03-02T00:00:00Z", endZoneOffset="+01:00",
       stages=[{"startTime": "2026-03-01T22:30:00Z", "endTime": "2026-03-01T23:00:00Z", "stage": 4},
               {"startTime": "2026-03-01T23:00:00Z", "endTime": "2026-03-01T23:40:00Z", "stage": 5},
               {"startTime": "2026-03-01T23:40:00Z", "endTime": "2026-03-02T00:00:00Z", "stage": 1}]),
]}

SHAPE = ("sample_type", "timestamp_utc", "end_utc", "tz_offset_min", "local_date")


def shape(sample: dict[str, Any], *values: str) -> tuple[Any, ...]:
    return tuple(sample.get(k) for k in SHAPE) + tuple(sample[v] for v in values)


async def test_healthkit_values_units_and_times(tmp_path):
    async with ingest_app(tmp_path, Clock()) as (_, client):
        token = await issue(client, "ana")
        answer = await post(client, token, HEALTHKIT)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"records": 9, "samples": 8, "warnings": 0, "deleted": 0, "ignored": {}}
        got = {s["provenance"]["vendor_record_id"]: s for s in await samples(client, "ana")}
        assert set(got) == {"HK-HR", "HK-MASS", "HK-DIST", "HK-KJ", "HK-O2", "HK-BG", "HK-HRV", "HK-SLEEP"}
        assert {s["source"] for s in got.values()} == {"apple_health"}
        assert {s["provenance"]["channel"] for s in got.values()} == {"push"}
        # 72 count/min is 72 bpm; motion context 1 is sedentary. 07:15+01:00 = 06:15Z.
        assert shape(got["HK-HR"], "bpm", "context") == (
            "heart_rate", "2026-03-02T06:15:00Z", None, 60, "2026-03-02", 72, "sedentary")
        # 154.2 lb x 0.45359237 kg/lb = 69.943943454 -> 69.943943 kg. 07:20+01:00 = 06:20Z.
        assert shape(got["HK-MASS"], "kg") == ("weight", "2026-03-02T06:20:00Z", None, 60, "2026-03-02", 69.943943)
        assert "lb" not in got["HK-MASS"]
        # 6.2 mi x 1609.344 m/mi = 9977.9328 m. 08:00-09:00+01:00 = 07:00-08:00Z.
        assert shape(got["HK-DIST"], "meters") == (
            "distance", "2026-03-02T07:00:00Z", "2026-03-02T08:00:00Z", 60, "2026-03-02", 9977.9328)
        assert got["HK-DIST"]["meta"]["kind"] == "walking_running"
        # 41.8 kJ / 4.184 kJ/kcal = 9.990439... -> 9.99044 kcal. 08:00-08:10+01:00 = 07:00-07:10Z.
        assert shape(got["HK-KJ"], "kcal") == (
            "active_energy", "2026-03-02T07:00:00Z", "2026-03-02T07:10:00Z", 60, "2026-03-02", 9.99044)
        # HealthKit's % is a fraction: 0.96 x 100 = 96 %. 06:30+01:00 = 05:30Z.
        assert shape(got["HK-O2"], "pct") == ("spo2", "2026-03-02T05:30:00Z", None, 60, "2026-03-02", 96)
        # 98 mg/dL stays 98 mg/dL; meal time 1 is preprandial. 07:45+01:00 = 06:45Z.
        assert shape(got["HK-BG"], "mg_dl") == ("glucose", "2026-03-02T06:45:00Z", None, 60, "2026-03-02", 98)
        assert got["HK-BG"]["meta"]["meal_time"] == "preprandial"
        # SDNN stays SDNN: 48.3 ms as sdnn_ms, never an rmssd sample. 06:58:30+01:00 = 05:58:30Z.
        assert shape(got["HK-HRV"], "sdnn_ms") == (
            "hrv_sdnn", "2026-03-02T05:58:30Z", None, 60, "2026-03-02", 48.3)
        assert "rmssd_ms" not in got["HK-HRV"]
        assert not [s for s in got.values() if s["sample_type"] == "hrv_rmssd"]
        # Category value 4 is asleepDeep. 02:10-03:40+01:00 = 01:10-02:40Z.
        assert shape(got["HK-SLEEP"], "stage") == (
            "sleep_stage", "2026-03-02T01:10:00Z", "2026-03-02T02:40:00Z", 60, "2026-03-02", "deep")


async def test_health_connect_values_units_and_times(tmp_path):
    async with ingest_app(tmp_path, Clock()) as (_, client):
        token = await issue(client, "ana", "health_connect")
        answer = await post(client, token, HEALTH_CONNECT, "health_connect")
        assert answer.status_code == 200, answer.text
        # 5 records: the heart-rate series gives 2 samples, the sleep session 3 stages -> 2+1+1+1+3 = 8.
        assert answer.json() == {"records": 5, "samples": 8, "warnings": 0, "deleted": 0, "ignored": {}}
        stored = await samples(client, "ana")
        assert {s["source"] for s in stored} == {"health_connect"}
        assert {s["device"] for s in stored} == {"Band 3"}
        got = {(s["provenance"]["vendor_record_id"], s["timestamp_utc"]): s for s in stored}
        # Each heart-rate sample keeps its own instant; the offset is the record's +01:00 = 60 min.
        assert [shape(got[("hc-hr", t)], "bpm") for t in ("2026-03-02T06:15:00Z", "2026-03-02T06:15:30Z")] == [
            ("heart_rate", "2026-03-02T06:15:00Z", None, 60, "2026-03-02", 61),
            ("heart_rate", "2026-03-02T06:15:30Z", None, 60, "2026-03-02", 64)]
        # 71.4 kilograms is 71.4 kg.
        assert shape(got[("hc-weight", "2026-03-02T06:20:00Z")], "kg") == (
            "weight", "2026-03-02T06:20:00Z", None, 60, "2026-03-02", 71.4)
        # 4250.5 meters is 4250.5 m.
        assert shape(got[("hc-dist", "2026-03-02T07:00:00Z")], "meters") == (
            "distance", "2026-03-02T07:00:00Z", "2026-03-02T07:30:00Z", 60, "2026-03-02", 4250.5)
        # Health Connect's Percentage is already 0-100: 96 stays 96 (not x 100).
        assert shape(got[("hc-o2", "2026-03-02T05:30:00Z")], "pct") == (
            "spo2", "2026-03-02T05:30:00Z", None, 60, "2026-03-02", 96)
        # Stages 4 light, 5 deep, 1 awake. Local dates at +01:00: 22:30Z is 23:30 on 03-01,
        # 23:00Z and 23:40Z are 00:00 and 00:40 on 03-02.
        night = [shape(got[("hc-sleep", t)], "stage") for t in
                 ("2026-03-01T22:30:00Z", "2026-03-01T23:00:00Z", "2026-03-01T23:40:00Z")]
        assert night == [
            ("sleep_stage", "2026-03-01T22:30:00Z", "2026-03-01T23:00:00Z", 60, "2026-03-01", "light"),
            ("sleep_stage", "2026-03-01T23:00:00Z", "2026-03-01T23:40:00Z", 60, "2026-03-02", "deep"),
            ("sleep_stage", "2026-03-01T23:40:00Z", "2026-03-02T00:00:00Z", 60, "2026-03-02", "awake")]
        assert [got[("hc-sleep", "2026-03-01T23:40:00Z")]["meta"]["health_connect_stage"]] == [1]
