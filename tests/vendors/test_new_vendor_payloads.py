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
