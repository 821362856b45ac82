"""The checked-in sample schema is generated from the catalogue and rejects malformed samples."""

from __future__ import annotations

import copy
import json

import pytest
from jsonschema import Draft202012Validator

from engine.mapping.sample_schema import ENVELOPE_FIELDS, build_sample_schema, render
from engine.spec.catalogue import CATALOGUE
from tests.mapping.helpers import REPO_ROOT, sample_validator

SCHEMA_FILE = REPO_ROOT / "schemas" / "synheart-sample.schema.json"

GOOD = {
    "user_id": "u1", "source": "whoop", "sample_type": "hrv_rmssd",
    "timestamp_utc": "2024-03-02T11:25:44.774Z", "tz_offset_min": -300, "local_date": "2024-03-02",
    "rmssd_ms": 31.8, "device": None,
    "provenance": {"resource": "recovery", "vendor_record_id": "abc", "vendor_updated_at": None},
    "deleted": False, "meta": {}, "dedup_key": "u1|whoop|recovery|hrv_rmssd|abc",
}


def test_checked_in_schema_matches_the_catalogue():
    assert SCHEMA_FILE.read_text() == render(), (
        "regenerate: python -m engine.mapping.sample_schema > schemas/synheart-sample.schema.json")
    Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))


def test_every_catalogue_type_and_field_is_in_the_schema():
    schema = build_sample_schema()
    assert schema["properties"]["sample_type"]["enum"] == sorted(CATALOGUE.types)
    by_type = {rule["if"]["properties"]["sample_type"]["const"]: rule["then"] for rule in schema["allOf"]}
    for name, sample_type in CATALOGUE.types.items():
        props = by_type[name]["properties"]
        assert set(props) == set(sample_type.fields)
        for field in sample_type.fields.values():
            assert field.name not in ENVELOPE_FIELDS
            if field.unit is not None:
                assert (props[field.name].get("minimum"), props[field.name].get("maximum"),
                        props[field.name]["x-unit"]) == (field.min, field.max, field.unit)
            if field.required:
                assert field.name in by_type[name]["required"]


def test_a_good_sample_validates():
    assert list(sample_validator().iter_errors(GOOD)) == []


@pytest.mark.parametrize("change", [
    lambda s: s.pop("rmssd_ms"),                        # required value field missing
    lambda s: s.update(sdnn_ms=40),                     # field of another type
    lambda s: s.update(rmssd_ms=900),                   # out of range
    lambda s: s.update(sample_type="hrv"),              # unknown type
    lambda s: s.update(timestamp_utc="2024-03-02T11:25:44+01:00"),  # not UTC
    lambda s: s.update(local_date="02/03/2024"),
    lambda s: s.pop("dedup_key"),
    lambda s: s["provenance"].pop("resource"),
    lambda s: s.update(extra=1),
])
def test_malformed_samples_are_rejected(change):
    sample = copy.deepcopy(GOOD)
    change(sample)
    assert list(sample_validator().iter_errors(sample))
