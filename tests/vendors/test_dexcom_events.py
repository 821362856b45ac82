"""Dexcom v3 events and calibrations: every mapped value and unit of the documented shapes
hand-computed (carbs in grams, insulin units, exercise minutes and intensity, health events,
fingerstick glucose), each record's local offset from its display and system clocks, and the
initial sync from the simulator storing what the user entered and nothing they deleted."""

from __future__ import annotations

import json
from pathlib import Path

import jmespath
import pytest

from engine.mapping.compiler import compile_resource_mapper
from engine.spec.catalogue import CATALOGUE
from engine.spec.functions import OPTIONS
from tests.mapping.helpers import shipped_spec
from tests.vendors.harness import connect_user, drain, engine_app, engine_env, samples

FIXTURES = Path(__file__).resolve().parents[2] / "vendors" / "dexcom" / "fixtures"


def _mapped(resource: str) -> list[dict]:
    records = json.loads((FIXTURES / f"{resource}.list.json").read_text())["records"]
    result = compile_resource_mapper(shipped_spec("dexcom"), resource).map_records(records, "u1")
    assert not result.warnings
    return result.samples


def _by_record(found: list[dict]) -> dict[str, dict]:
    return {s["provenance"]["vendor_record_id"]: s for s in found}


def _offset(local: str, system: str) -> object:
    return jmespath.search("utc_offset_s(a, b)", {"a": local, "b": system}, options=OPTIONS)


def test_the_local_offset_is_the_difference_of_the_two_clocks_to_the_quarter_hour():
    # App record: 01:12:35 at -08:00 is 09:12:35Z; -8 h = -28800 s, whatever offset each carries.
    assert _offset("2022-02-06T01:12:35-08:00", "2022-02-06T09:12:35+00:00") == -28800
    # Receiver record (no offsets), the user's clock 12 s slow: 05:31:58 vs 12:32:10 -> -7 h.
    assert _offset("2024-06-01T05:31:58", "2024-06-01T12:32:10") == -25200
    # Dexcom's own example offset -06:59:59 is a -7 h zone.
    assert _offset("2021-04-05T10:52:48-06:59:59", "2021-04-05T17:53:03Z") == -25200
    # India, +05:30; Nepal, +05:45: quarter hours are kept.
    assert _offset("2024-06-01T17:30:00", "2024-06-01T12:00:00") == 19800
    assert _offset("2024-06-01T17:45:00", "2024-06-01T12:00:00") == 20700
    # No time, or a difference no zone has: null.
    assert _offset("pizza", "2024-06-01T12:00:00") is None
    assert _offset("2024-06-03T12:00:00", "2024-06-01T12:00:00") is None
    assert _offset(None, "2024-06-01T12:00:00") is None


def test_every_event_value_and_unit_by_hand():
    found = _mapped("events")
    by_id = _by_record(found)
    long_acting = by_id["763923b7-5424-451e-b37d-fd8ff635b308"]  # Dexcom's documented example
    assert (long_acting["sample_type"], long_acting["units"], long_acting["insulin"]) == (
        "insulin_dose", 400, "long_acting")
    assert (long_acting["timestamp_utc"], long_acting["tz_offset_min"], long_acting["local_date"]) == (
        "2022-02-06T09:12:35Z", -480, "2022-02-06")
    carbs = by_id["2b1c0d7e-0001-4e1a-8c55-0a0b0c0d0e01"]
    assert (carbs["sample_type"], carbs["grams"], carbs["tz_offset_min"]) == ("carb_intake", 45, -420)
    assert "value" not in carbs and CATALOGUE.field("carb_intake", "grams").unit == "g"
    fast = by_id["2b1c0d7e-0002-4e1a-8c55-0a0b0c0d0e02"]  # from a receiver: no offsets written
    assert (fast["sample_type"], fast["units"], fast["insulin"]) == ("insulin_dose", 6.5, "fast_acting")
    assert (fast["timestamp_utc"], fast["tz_offset_min"], fast["tz_source"]) == (
        "2024-06-01T12:32:10Z", -420, "record")
    exercise = by_id["2b1c0d7e-0003-4e1a-8c55-0a0b0c0d0e03"]
    # 45 minutes entered: 2700 s, from 14:00Z to 14:45Z, medium intensity.
    assert (exercise["sample_type"], exercise["duration_s"], exercise["intensity"]) == ("workout", 2700, "medium")
    assert (exercise["timestamp_utc"], exercise["end_utc"]) == ("2024-06-01T14:00:00Z", "2024-06-01T14:45:00Z")
    health = by_id["2b1c0d7e-0004-4e1a-8c55-0a0b0c0d0e04"]
    assert (health["sample_type"], health["event"]) == ("health_event", "stress")
    meter = by_id["2b1c0d7e-0005-4e1a-8c55-0a0b0c0d0e05"]
    # 05:40Z on 2 June is 22:40 on 1 June at -07:00.
    assert (meter["sample_type"], meter["mg_dl"], meter["local_date"]) == ("blood_glucose", 132, "2024-06-01")
    # The deleted meal and the note make no sample.
    assert "2b1c0d7e-0006-4e1a-8c55-0a0b0c0d0e06" not in by_id
    assert "2b1c0d7e-0007-4e1a-8c55-0a0b0c0d0e07" not in by_id
    assert len(found) == 6


def test_calibrations_are_fingerstick_glucose_read_like_egvs():
    by_id = _by_record(_mapped("calibrations"))
    example = by_id["763923b7-5424-451e-b37d-fd8ff635b308"]  # Dexcom's documented example
    # 03:59:11Z on 17 June, shown 19:59:11 on 16 June: -8 h, local date 16 June.
    assert (example["sample_type"], example["mg_dl"], example["tz_offset_min"], example["local_date"]) == (
        "blood_glucose", 124, -480, "2022-06-16")
    # An int32 labelled mmol/L is the mg/dL value (131 mmol/L would be no glucose at all).
    assert by_id["9c4e2a10-0002-47b1-9f0e-1a2b3c4d5e02"]["mg_dl"] == 131
    assert "9c4e2a10-0003-47b1-9f0e-1a2b3c4d5e03" not in by_id  # no value
    assert len(by_id) == 2


def test_egvs_now_carry_their_local_offset():
    by_id = _by_record(_mapped("egvs"))
    # Receiver: 01:00 shown at 08:00Z -> -7 h. App: 10:05+02:00 at 08:05Z -> +2 h.
    assert by_id["0f8e1d9c-1111-4a2b-9c3d-aaaaaaaaaaa1"]["tz_offset_min"] == -420
    assert by_id["0f8e1d9c-1111-4a2b-9c3d-aaaaaaaaaaa2"]["tz_offset_min"] == 120
    assert {s["tz_source"] for s in by_id.values()} == {"record"}


@pytest.mark.parametrize("unit, target, value, expected", [
    ("g", "g", 45, 45), ("kg", "g", 0.045, 45), ("U", "U", 6.5, 6.5)])
def test_the_catalogue_converts_the_new_units(unit, target, value, expected):
    factor, offset = CATALOGUE.unit_converter(unit, target)
    assert value * factor + offset == pytest.approx(expected)


def test_insulin_units_are_not_a_mass():
    with pytest.raises(ValueError):
        CATALOGUE.unit_converter("U", "g")


@pytest.mark.anyio
async def test_the_initial_sync_stores_what_the_user_entered(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "dexcom"), clock) as (engine, client):
        await connect_user(client, sim, "dexcom", "u1")
        assert await drain(engine) >= 3
        user = sim.state.default_user("dexcom")
        events = sim.state.raw_records("dexcom", "events", user.key)
        offset_min = {r.data["displayTime"][-6:] for r in events}
        assert len(offset_min) == 1
        carbs = {s["provenance"]["vendor_record_id"]: s for s in await samples(client, "u1", type="carb_intake")}
        entered = {r.id: r.data for r in events if r.data["eventType"] == "carbs"}
        deleted = [i for i, d in entered.items() if d["eventStatus"] == "deleted"]
        assert len(deleted) == 1 and deleted[0] not in carbs
        assert carbs and set(carbs) <= set(entered)
        for record_id, sample in carbs.items():
            assert sample["grams"] == int(entered[record_id]["value"])
        doses = await samples(client, "u1", type="insulin_dose")
        assert {s["insulin"] for s in doses} == {"fast_acting", "long_acting"}
        workouts = await samples(client, "u1", type="workout")
        minutes = {r.id: int(r.data["value"]) for r in events if r.data["eventType"] == "exercise"}
        assert workouts and all(s["duration_s"] == minutes[s["provenance"]["vendor_record_id"]] * 60
                                for s in workouts)
        meter = await samples(client, "u1", type="blood_glucose")
        calibrations = {r.id: r.data["value"] for r in sim.state.raw_records("dexcom", "calibrations", user.key)}
        assert meter and all(s["mg_dl"] == calibrations[s["provenance"]["vendor_record_id"]] for s in meter)
        # Receiver clocks drift by seconds; the offset is still the user's, in whole quarter hours.
        sign = -1 if next(iter(offset_min))[0] == "-" else 1
        hours, minutes_part = int(next(iter(offset_min))[1:3]), int(next(iter(offset_min))[4:6])
        expected = sign * (hours * 60 + minutes_part)
        assert {s["tz_offset_min"] for s in meter + doses + list(carbs.values())} == {expected}
