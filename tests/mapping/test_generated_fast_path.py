"""The generated fast path maps every record exactly as the per-field closures do.

Records are the shipped fixtures with fields replaced by arbitrary JSON values, so both the
fast path and its hand-back to the closures (for anything that warns or fails) are exercised.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.mapping.compiler import compile_resource_mapper
from engine.mapping.result import MapResult
from engine.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[2]
CASES = [("whoop", "sleep", "records"), ("whoop", "recovery", "records"),
         ("oura", "heartrate", "data"), ("oura", "daily_activity", "data")]

odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
    st.sampled_from(["", "x", "SCORED", "-05:00", "+25:00", "2024-03-02T05:35:00Z",
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


@pytest.mark.parametrize(("vendor", "resource", "records_key"), CASES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_fast_path_equals_closures(vendor, resource, records_key, data) -> None:
    spec = load_spec(ROOT / "vendors" / f"{vendor}.yaml", env={})
    mapper = compile_resource_mapper(spec, resource)
    assert mapper._fast is not None
    page = json.loads((ROOT / "vendors" / vendor / "fixtures" / f"{resource}.list.json").read_text())
    records = [_mutate(r, data.draw) for r in page[records_key]]
    records += data.draw(st.lists(odd_values, max_size=2))  # non-object records too
    user = data.draw(st.sampled_from(["app-user-1", "a|b", "50%"]))
    fast, slow = mapper.map_records(records, user), _slow(mapper, records, user)
    assert fast.samples == slow.samples
    assert fast.warnings == slow.warnings
    assert [list(s) for s in fast.samples] == [list(s) for s in slow.samples]  # same key order
