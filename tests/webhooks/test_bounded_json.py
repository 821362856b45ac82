"""The bounded JSON reader (`engine.webhooks.body.parse_json`) reads every JSON document the
stdlib reads, as the stdlib reads it, except what it is there to refuse: nesting deeper than
`MAX_JSON_DEPTH`, numbers that are not finite, unpaired surrogate escapes."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.webhooks.body import MAX_JSON_DEPTH, BodyError, parse_body, parse_json
from tests.examples import examples

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), texts,
                    st.floats(allow_nan=False, allow_infinity=False))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=30)


def depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@settings(max_examples=examples(300))
@given(documents, st.booleans(), st.sampled_from([None, 0, 2]))
def test_reads_what_the_stdlib_reads(document, ascii_only, indent):
    raw = json.dumps(document, ensure_ascii=ascii_only, indent=indent).encode()
    assert parse_json(raw) == json.loads(raw)


@settings(max_examples=examples(100))
@given(st.integers(1, 3 * MAX_JSON_DEPTH), st.sampled_from(["[", '{"k":', '[{"k":']))
def test_depth_is_capped_exactly(levels, opening):
    closing = {"[": "]", '{"k":': "}", '[{"k":': "}]"}[opening]
    raw = (opening * levels + "0" + closing * levels).encode()
    nesting = depth(json.loads(raw))
    if nesting > MAX_JSON_DEPTH:
        with pytest.raises(BodyError, match="nested deeper"):
            parse_json(raw)
    else:
        assert parse_json(raw) == json.loads(raw)


@pytest.mark.parametrize("raw", [b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000,
                                 b'{"a":' * 50_000 + b"1" + b"}" * 50_000])
def test_very_deep_bodies_are_refused(raw):
    with pytest.raises(BodyError):
        parse_json(raw)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E+400", "1e0400",
                                    "1" * 250 + "e99", "1" * 400 + ".0", "-" + "9" * 400 + ".5e-2"])
def test_non_finite_numbers_are_refused(number):
    assert not math.isfinite(float(number))
    for raw in (f"[{number}]", f'{{"a": {number}}}', f'{{"a": [1, "x", {{"b": {number}}}]}}'):
        with pytest.raises(BodyError):
            parse_json(raw.encode())


@pytest.mark.parametrize("number", ["1e308", "1.7976931348623157e308", "-1e308", "1e-999", "5e-324",
                                    "1" * 300 + ".5", "1" + "0" * 4000, "0e0", "1E+2"])
def test_finite_numbers_are_read(number):
    assert parse_json(f"[{number}]".encode()) == json.loads(f"[{number}]")


@pytest.mark.parametrize("raw", [rb'"\ud800"', rb'["\udfff"]', rb'{"\udbff": 1}', rb'{"a": "x\ud83d"}',
                                 rb'["\ude00\ud83d"]'])
def test_unpaired_surrogate_escapes_are_refused(raw):
    with pytest.raises(BodyError, match="surrogate"):
        parse_json(raw)


def test_paired_surrogate_escapes_and_look_alikes_are_read():
    assert parse_json(rb'["\ud83d\ude00"]') == ["\U0001f600"]
    assert parse_json(rb'["\\ud800"]') == ["\\ud800"]  # an escaped backslash, then text


@pytest.mark.parametrize("raw", [b"\xff", b'{"a": "\xed\xa0\x80"}', "{}".encode("utf-16"), b"\xef\xbb\xbf{}",
                                 b"", b"  ", b"{", b"[1]x"])
def test_what_is_not_utf8_json_is_refused(raw):
    with pytest.raises(BodyError):
        parse_body(raw, "json")
