"""Mutated and hostile specs never make `engine validate` crash or hang: every case ends in exit 0
with no issue, or exit 1 with issues that each name the file, a line and a column; never a
traceback, never longer than a liveness timeout. Hostile cases: nesting thousands of levels deep
(flow, block, unclosed, behind directives only one of the two YAML parsers accepts), alias bombs
(billion laughs, one long string referenced over and over, self-referencing anchors) and files
of up to 2 MiB of tiny nodes."""

from __future__ import annotations

import copy
import json
import re
import tempfile
import threading
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli import main
from engine.spec.document import read_document
from tests.examples import examples
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


LIVENESS_S = 2.0
_LOCATED = re.compile(r"^(?P<file>.+):(?P<line>[1-9][0-9]*):(?P<col>[1-9][0-9]*): error: ")


def _run_validate(argv: list[str]) -> int:
    """`engine validate` in a thread that must finish within the liveness timeout; anything it
    raises fails the test (main() itself must never raise)."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["status"] = main(argv)
        except BaseException as exc:  # noqa: BLE001 -- reported below as the failure
            outcome["raised"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(LIVENESS_S)
    assert not worker.is_alive(), f"engine validate ran past {LIVENESS_S} s"
    assert "raised" not in outcome, f"engine validate raised {outcome['raised']!r}"
    return outcome["status"]  # type: ignore[return-value]


def _validate_text(text: str, capsys, *, fmt: str = "json") -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mutant.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        status = _run_validate(["validate", "--format", fmt, str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert status in (0, 1), (status, out[-500:], err[-500:])
    if fmt == "json":
        issues = json.loads(out)
        assert (status == 0) == (not issues), (status, issues)
        for issue in issues:
            assert issue["file"] == str(path), issue
            assert issue["line"] >= 1 and issue["col"] >= 1, issue
            assert issue["code"] and issue["message"], issue
    else:
        lines = out.splitlines()
        assert (status == 0) == (not lines), (status, out[-500:])
        for line in lines:
            located = _LOCATED.match(line)
            assert located and located["file"] == str(path), line
    return status


FUZZ = settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(text=mutated_specs())
def test_structurally_mutated_specs_never_crash(text, capsys):
    _validate_text(text, capsys)


@FUZZ
@given(text=corrupted_texts())
def test_textually_corrupted_specs_never_crash(text, capsys):
    _validate_text(text, capsys)


# --------------------------------------------------------------------------- hostile YAML

_DIRECTIVES = ["", "---\n", "%YAML 1.2\n---\n", "%YAML 1.3\n---\n", "%FOO bar\n---\n",
               "%TAG !x! tag:example.com,2000:\n---\n"]


def _nest(kind: str, depth: int, closed: bool) -> str:
    if kind == "flow_seq":
        return "[" * depth + ("]" * depth if closed else "")
    if kind == "flow_map":
        return "{a: " * depth + ("1" + "}" * depth if closed else "")
    if kind == "mixed":
        opened = "".join("[" if i % 2 else "{k: " for i in range(depth))
        closing = "".join("]" if i % 2 else "}" for i in reversed(range(depth)))
        return opened + ("1" + closing if closed else "")
    # block: one mapping or sequence per indented line
    return "\n" + "".join(" " * i + ("- " if i % 2 else "k:") + "\n" for i in range(depth)) + " " * depth + "x"


@st.composite
def deeply_nested(draw):
    """A shipped spec (or a tiny document) with a value nested far past the depth cap, written
    in any YAML style, behind any directive."""
    depth = draw(st.sampled_from([65, 200, 1000, 5000]))
    nested = _nest(draw(st.sampled_from(["flow_seq", "flow_map", "mixed", "block"])), depth,
                   closed=draw(st.booleans()))
    base = draw(st.sampled_from(["id: x\n", *sorted(SHIPPED_TEXT.values())]))
    key = draw(st.sampled_from(["x-deep", "docs_url", "name"]))
    text = f"{base.rstrip()}\n{key}: {nested}\n"
    return draw(st.sampled_from(_DIRECTIVES)) + text


@st.composite
def alias_bombs(draw):
    """Billion laughs (fan-out ** levels nodes from a few hundred bytes), one long string
    referenced over and over, long keys referenced over and over, self-referencing anchors."""
    kind = draw(st.sampled_from(["laughs", "long_string", "long_key", "recursive"]))
    if kind == "laughs":
        fan_out, levels = draw(st.integers(2, 12)), draw(st.integers(3, 12))
        lines = [f"a0: &a0 [{', '.join(['lol'] * fan_out)}]"]
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan_out)}]" for i in range(1, levels)]
        body = "\n".join(lines)
    elif kind == "long_string":
        size, refs = draw(st.sampled_from([1000, 100_000, 1_000_000])), draw(st.integers(10, 100_000))
        body = f"s: &s {'x' * size}\nl: [{', '.join(['*s'] * refs)}]"
    elif kind == "long_key":
        size, refs = draw(st.sampled_from([1000, 100_000, 1_000_000])), draw(st.integers(10, 100_000))
        body = f"m: &m {{{'k' * size}: 1}}\nl: [{', '.join(['*m'] * refs)}]"
    else:
        body = draw(st.sampled_from(["r: &r [*r]", "r: &r {a: *r}", "r: &r [1, [2, *r]]",
                                     "r: &r {a: [*r, *r], b: *r}"]))
    base = draw(st.sampled_from(["id: x\n", *sorted(SHIPPED_TEXT.values())]))
    if draw(st.booleans()):  # the bomb under a key of the spec rather than at the top level
        body = "x-bomb:\n" + "\n".join("  " + line for line in body.splitlines())
    return draw(st.sampled_from(_DIRECTIVES)) + base.rstrip() + "\n" + body + "\n"


@st.composite
def wide_documents(draw):
    """Up to a 2 MiB file of tiny nodes (a million of them in flow style), in any style, behind
    any directive."""
    count = draw(st.sampled_from([10_001, 100_000, 600_000, 990_000]))
    style = draw(st.sampled_from(["flow", "block", "mapping"]))
    if style == "flow":
        body = "v: [" + ",".join(["1"] * count) + "]"
    elif style == "block":
        body = "v:\n" + "- 1\n" * (count // 2)
    else:
        body = "".join(f"k{i}: 1\n" for i in range(count // 8))
    return draw(st.sampled_from(_DIRECTIVES)) + "id: x\n" + body + "\n"


HOSTILE = settings(max_examples=examples(60), deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])


@HOSTILE
@given(text=deeply_nested(), fmt=st.sampled_from(["json", "text"]))
def test_deeply_nested_specs_are_located_errors(text, fmt, capsys):
    assert _validate_text(text, capsys, fmt=fmt) == 1


@HOSTILE
@given(text=alias_bombs(), fmt=st.sampled_from(["json", "text"]))
def test_alias_bombs_are_located_errors_in_time(text, fmt, capsys):
    _validate_text(text, capsys, fmt=fmt)


@settings(HOSTILE, max_examples=15)
@given(text=wide_documents())
def test_wide_documents_are_located_errors_in_time(text, capsys):
    assert _validate_text(text, capsys) == 1


# The attacks as they were reported: each crashed or hung `engine validate` before the fix.
@pytest.mark.parametrize("text", [
    pytest.param("%YAML 1.3\n---\nid: x\nv: " + "[" * 1000 + "]" * 1000 + "\n", id="flow-1000-yaml13"),
    pytest.param("%FOO bar\n---\nid: x\nv: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n", id="flow-map-1000-directive"),
    pytest.param("id: x\nv: " + "[" * 5000 + "]" * 5000 + "\n", id="flow-5000"),
    pytest.param("id: x\ns: &s " + "x" * 1_000_000 + "\nl: [" + ", ".join(["*s"] * 100_000) + "]\n",
                 id="long-string-alias-bomb"),
    pytest.param("id: x\n" + "\n".join(
        ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]) + "\n",
        id="billion-laughs"),
])
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_reported_hostile_specs(text, fmt, capsys):
    assert _validate_text(text, capsys, fmt=fmt) == 1
