"""Whatever a vendor sends, mapping returns samples and warnings, never an exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.mapping.compiler import compile_resource_mapper
from tests.examples import examples
from tests.mapping.helpers import (
    VENDOR_IDS,
    assert_valid_samples,
    fixture,
    fixture_paths,
    shipped_spec,
)

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**15, 10**15), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(["2024-03-02T00:00:00Z", "-04:00", "SCORED", "Z", "rest"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

MAPPERS = [
    (compile_resource_mapper(shipped_spec(vendor), path.name.split(".")[0]), vendor, path.stem)
    for vendor in VENDOR_IDS for path in fixture_paths(vendor) if path.stem.endswith(".get")
] + [(compile_resource_mapper(shipped_spec("oura"), "heartrate"), "oura", None)]


def _mutate(record: dict, data: st.DataObject) -> dict:
    mutated = dict(record)
    for key in data.draw(st.lists(st.sampled_from(sorted(record)), max_size=4, unique=True)):
        mutated[key] = data.draw(JSON)
    return mutated


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_records_never_raise_and_stay_valid(data):
    mapper, vendor, name = data.draw(st.sampled_from(MAPPERS))
    base = fixture(vendor, name) if name else fixture("oura", "heartrate.list")["data"][0]
    result = mapper.map_record(_mutate(base, data), "u1")
    assert_valid_samples(result.samples)


@settings(max_examples=examples(100), deadline=None)
@given(record=JSON)
def test_arbitrary_json_never_raises(record):
    for mapper, _, _ in MAPPERS:
        result = mapper.map_records([record], "u1")
        assert_valid_samples(result.samples)
