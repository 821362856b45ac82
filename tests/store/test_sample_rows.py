"""The rows written for a page of samples: payload JSON equal to the stdlib encoding (or the
stdlib's error), and ids that stay unique and ordered when reserved a page at a time."""

from __future__ import annotations

import json
import math
import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.store.codec import dump_json, dump_payload, new_id, new_ids

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _stdlib(payload):
    try:
        return ("ok", dump_json(dict(payload)))
    except (TypeError, ValueError) as error:
        return ("error", type(error))


def _fast(payload):
    try:
        return ("ok", dump_payload(payload))
    except (TypeError, ValueError) as error:
        return ("error", type(error))


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=8))
def test_payload_json_decodes_to_what_the_stdlib_writes(payload) -> None:
    fast, slow = _fast(payload), _stdlib(payload)
    assert fast[0] == slow[0]
    if fast[0] == "ok":
        # Float text may differ in form (1e+16 vs 1e16), never in value.
        assert json.loads(fast[1]) == json.loads(slow[1])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_at_any_depth(bad) -> None:
    for payload in ({"v": bad}, {"meta": {"v": [1, bad]}}):
        with pytest.raises(ValueError):
            dump_payload(payload)


def test_what_only_the_stdlib_encodes_is_encoded_as_the_stdlib_does() -> None:
    assert json.loads(dump_payload({"big": 2**70, "k": {1: "int key"}})) == {
        "big": 2**70, "k": {"1": "int key"}}
    assert dump_payload({"text": "héllo \u2028"}) == dump_json({"text": "héllo \u2028"})


def test_page_ids_are_unique_increasing_and_shaped_like_single_ids() -> None:
    shape = re.compile(r"^[0-9a-f]{30}$")
    before = new_id(1_700_000_000.0)
    page = new_ids(1_700_000_000.0, 500)
    after = new_id(1_700_000_000.0)
    assert all(shape.match(i) for i in page)
    assert len(set(page)) == 500
    assert [before, *page, after] == sorted([before, *page, after])
    assert new_ids(1_700_000_000.0, 0) == []


def test_a_forked_process_draws_its_own_id_suffix() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one id, then out without running anything else
        os.write(write, new_id(1_700_000_000.0).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    mine = new_id(1_700_000_000.0)
    assert len(child) == len(mine) == 30 and child[-12:] != mine[-12:]
