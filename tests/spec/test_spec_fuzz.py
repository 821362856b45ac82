"""Mutated shipped specs never make `engine validate` crash: exit 0 or 1, JSON out, no traceback."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli import main
from engine.spec.document import read_document
from tests.spec.helpers import VENDOR_SPECS

SHIPPED = {path.name: read_document(path).data for path in VENDOR_SPECS}
SHIPPED_TEXT = {path.name: path.read_text() for path in VENDOR_SPECS}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["{id}", "{nope", "${X", "${X:-y}", "http://evil.test", "sum(", "ms", "bpm",
                     "cursor", "hmac", "none", "fetch", "[]", "{}", "}{"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=6)


def _containers(data, path=()):
    yield path, data
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, child in items:
        if isinstance(child, (dict, list)):
            yield from _containers(child, (*path, key))


@st.composite
def mutated_specs(draw):
    name = draw(st.sampled_from(sorted(SHIPPED)))
    data = copy.deepcopy(SHIPPED[name])
    for _ in range(draw(st.integers(1, 4))):
        containers = list(_containers(data))
        _, target = draw(st.sampled_from(containers))
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        operation = draw(st.sampled_from(["drop", "rename", "replace", "insert"]))
        if not keys:
            operation = "insert"
        if operation == "insert":
            if isinstance(target, dict):
                target[draw(st.text(min_size=1, max_size=10))] = draw(values)
            else:
                target.append(draw(values))
            continue
        key = draw(st.sampled_from(keys))
        if operation == "drop":
            del target[key]
        elif operation == "replace":
            target[key] = draw(values)
        elif isinstance(target, dict):  # rename
            target[draw(st.text(min_size=1, max_size=10))] = target.pop(key)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@st.composite
def corrupted_texts(draw):
    text = SHIPPED_TEXT[draw(st.sampled_from(sorted(SHIPPED_TEXT)))]
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.text(max_size=6)) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
    return text


def _validate_text(text: str, capsys) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mutant.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        status = main(["validate", "--format", "json", str(path)])
    out, err = capsys.readouterr()
    assert status in (0, 1), (status, err)
    assert "Traceback" not in out + err
    for issue in json.loads(out):
        assert issue["line"] >= 1 and issue["col"] >= 1
        assert issue["code"] and issue["message"]


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(text=mutated_specs())
def test_structurally_mutated_specs_never_crash(text, capsys):
    _validate_text(text, capsys)


@FUZZ
@given(text=corrupted_texts())
def test_textually_corrupted_specs_never_crash(text, capsys):
    _validate_text(text, capsys)
