"""The sample catalogue: types, fields and unit conversion."""

from __future__ import annotations

import pytest

from engine.spec.catalogue import CATALOGUE, schema_path


def test_schema_files_are_found_from_the_package():
    assert schema_path("vendor-spec.schema.json").is_file()
    assert schema_path("sample-catalogue.json").is_file()


def test_types_and_fields():
    heart_rate = CATALOGUE.sample_type("heart_rate")
    assert heart_rate is not None and heart_rate.kind == "point"
    bpm = CATALOGUE.field("heart_rate", "bpm")
    assert bpm is not None and bpm.unit == "bpm" and bpm.required
    stage = CATALOGUE.field("sleep_stage", "stage")
    assert stage is not None and stage.type == "string" and "rem" in (stage.enum or ())
    assert CATALOGUE.sample_type("no_such_type") is None
    assert CATALOGUE.field("heart_rate", "no_such_field") is None


@pytest.mark.parametrize("unit, target, value, expected", [
    ("ms", "s", 1500, 1.5),
    ("min", "s", 2, 120),
    ("s", "ms", 1.5, 1500),
    ("km", "m", 1.2, 1200),
    ("kJ", "kcal", 4.184, 1.0),
    ("degF", "degC", 212, 100),
    ("fraction", "%", 0.97, 97),
    ("mmol/L", "mg/dL", 5.5, 99.1001),
    ("bpm", "bpm", 61, 61),
])
def test_unit_conversion(unit, target, value, expected):
    factor, offset = CATALOGUE.unit_converter(unit, target)
    assert value * factor + offset == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("unit, target", [("ms", "bpm"), ("kg", "m"), ("parsecs", "m"), ("s", "lightyear")])
def test_units_that_cannot_convert(unit, target):
    with pytest.raises(ValueError):
        CATALOGUE.unit_converter(unit, target)


def test_convert_factor():
    assert CATALOGUE.convert_factor("h", "s") == 3600
    assert CATALOGUE.dimension("mg/dL") == "glucose"
