"""The generated fast path maps every record exactly as the per-field closures do.

Records are the shipped fixtures with fields replaced by arbitrary JSON values, so both the
fast path and its hand-back to the closures (for anything that warns or fails) are exercised.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.mapping.compiler import compile_resource_mapper, page_records
from engine.mapping.result import MapResult
from engine.spec.loader import load_spec
from tests.examples import examples

ROOT = Path(__file__).resolve().parents[2]


def _cases() -> list[tuple[str, str]]:
    """Every resource with a list fixture whose mapping has a generated fast path."""
    cases = []
    for spec_path in sorted((ROOT / "vendors").glob("*.yaml")):
        spec = load_spec(spec_path, env={})
        for name in spec.resources:
            fixture = ROOT / "vendors" / spec_path.stem / "fixtures" / f"{name}.list.json"
            if fixture.exists() and compile_resource_mapper(spec, name)._fast is not None:
                cases.append((spec_path.stem, name))
    return cases


CASES = _cases()


@cache
def _compiled(vendor: str, resource: str):
    spec = load_spec(ROOT / "vendors" / f"{vendor}.yaml", env={})
    page = json.loads((ROOT / "vendors" / vendor / "fixtures" / f"{resource}.list.json").read_text())
    return compile_resource_mapper(spec, resource), page_records(spec.resources[resource], page, "list")

odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
    st.floats(allow_nan=True, allow_infinity=True), st.integers(0, 2_000_000_000),
    st.sampled_from(["", "x", "SCORED", "-05:00", "+25:00", "+05:30", "Z", "America/New_York",
                     "2024-03-02T05:35:00Z", "2024-03-02T05:35:00.000Z", "2024-03-02T05:35:00.120Z",
                     "2024-03-02T05:35:00.123456Z", "2024-03-02T05:35:00+00:00",
                     "2024-03-02T23:35:00.250-00:00", "2024-03-02T05:35:00+05:30", "2024-03-02T23:59:59-08:00",
                     "20240302T053500Z", "2024-03-02 05:35:00Z", "2024-03-02T05:35:00,5Z", "2024-03-02Z",
                     "2024-03-02T05:35:00z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00",
                     "2024-03-02T05:35:00", "2024-03-02", "not a time", "a|b%c"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
)


def _slow(mapper, records, user_id):
    result = MapResult()
    for record in records:
        mapper._map_into(record, user_id, result)
    return result


def _mutate(value, draw, depth=0):
    if isinstance(value, dict) and depth < 3:
        out = {}
        for key, item in value.items():
            choice = draw(st.integers(0, 9))
            if choice == 0:
                continue  # drop the field
            out[key] = draw(odd_values) if choice == 1 else _mutate(item, draw, depth + 1)
        return out
    return value


def test_the_main_resources_have_a_fast_path() -> None:
    assert {("whoop", "sleep"), ("whoop", "recovery"), ("oura", "heartrate")} <= set(CASES)
    assert len(CASES) >= 30


@pytest.mark.parametrize(("vendor", "resource"), CASES)
@settings(max_examples=examples(40), deadline=None)
@given(data=st.data())
def test_fast_path_equals_closures(vendor, resource, data) -> None:
    mapper, fixture = _compiled(vendor, resource)
    records = [_mutate(r, data.draw) for r in fixture]
    records += data.draw(st.lists(odd_values, max_size=2))  # non-object records too
    user = data.draw(st.sampled_from(["app-user-1", "a|b", "50%"]))
    fast, slow = mapper.map_records(records, user), _slow(mapper, records, user)
    assert fast.samples == slow.samples
    assert fast.warnings == slow.warnings
    assert [list(s) for s in fast.samples] == [list(s) for s in slow.samples]  # same key order


def test_well_formed_fixtures_never_leave_the_fast_path() -> None:
    for vendor, resource in CASES:
        mapper, records = _compiled(vendor, resource)
        handed_back: list = []
        mapper._fast(records, "app-user-1", [], handed_back.append)
        assert handed_back == [], f"{vendor}/{resource}"
