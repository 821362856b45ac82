"""Hand-computed values that the vendor corrections changed, through the shipped specs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.mapping.compiler import map_page
from engine.spec.loader import load_spec
from engine.webhooks.events import extract_events
from engine.webhooks.routing import route_event
from engine.worker.events import _event_window

ROOT = Path(__file__).resolve().parents[2]


def spec(vendor: str):
    return load_spec(ROOT / "vendors" / f"{vendor}.yaml", env={})


def fixture(vendor: str, name: str):
    return json.loads((ROOT / "vendors" / vendor / "fixtures" / f"{name}.json").read_text())


def test_dexcom_integer_value_labelled_mmol_is_mg_dl():
    page = fixture("dexcom", "egvs.list")
    labelled = page["records"][1]
    assert (labelled["value"], labelled["unit"]) == (128, "mmol/L")
    one = {**page, "records": [labelled]}
    (sample,) = map_page(spec("dexcom"), "egvs", one, "u").samples
    assert sample["mg_dl"] == 128  # not 128 x 18.0182 = 2306.3
    fractional = {**page, "records": [{**labelled, "value": 7.1}]}
    (converted,) = map_page(spec("dexcom"), "egvs", fractional, "u").samples
    assert converted["mg_dl"] == pytest.approx(7.1 * 18.0182, abs=0.01)  # 127.93


def test_google_health_nap_flag_comes_from_metadata_nap():
    samples = map_page(spec("google_health"), "sleep", fixture("google_health", "sleep.list"), "u").samples
    sessions = {s["provenance"]["vendor_record_id"].rsplit("/", 1)[1]: s
                for s in samples if s["sample_type"] == "sleep_session"}
    assert sessions["8812001"]["is_nap"] is False
    nap = sessions["8812002"]
    assert nap["is_nap"] is True  # mainSleep is absent: the old rule said False
    assert (nap["in_bed_s"], nap["asleep_s"], nap["awake_s"]) == (40 * 60, 35 * 60, 5 * 60)


def test_withings_epoch_date_names_one_utc_day():
    withings = spec("withings")
    (event,) = extract_events("withings", withings.webhooks.events,
                              {"userid": "12345678", "appli": "16", "date": "1717286400"})
    routes = route_event(withings, event, received_at=0.0).jobs
    assert [r.payload.resource for r in routes] == ["activity", "workout"]
    window = _event_window(withings, routes[0].payload.window)
    # 1717286400 = 2024-06-02T00:00:00Z; the day it starts, end exclusive
    assert (window.start, window.end) == (datetime(2024, 6, 2, tzinfo=UTC), datetime(2024, 6, 3, tzinfo=UTC))
