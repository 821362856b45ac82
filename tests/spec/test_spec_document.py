"""Reading YAML: 1.2 scalars, positions, duplicate keys, env references, hostile input."""

from __future__ import annotations

import math

import pytest

from engine.spec.document import (
    DocumentError,
    env_references,
    interpolated,
    parse_document,
)


def _codes(text: str) -> list[tuple[str, int, int]]:
    with pytest.raises(DocumentError) as caught:
        parse_document(text, "x.yaml")
    return [(i.code, i.line, i.col) for i in caught.value.issues]


def test_only_true_and_false_are_booleans():
    doc = parse_document("on: yes\noff: no\ny: Y\nflag: true\nother: FALSE\n")
    assert doc.data == {"on": "yes", "off": "no", "y": "Y", "flag": True, "other": False}


def test_numbers_nulls_and_things_yaml11_would_convert():
    doc = parse_document(
        "a: 12\nb: 0x1F\nc: 0o17\nd: 1.5\ne: 1e3\nf: ~\ng:\nh: 1:30\ni: 2024-01-01\nj: 012\nk: -.inf\n")
    assert doc.data["a"] == 12 and doc.data["b"] == 31 and doc.data["c"] == 15
    assert doc.data["d"] == 1.5 and doc.data["e"] == 1000.0
    assert doc.data["f"] is None and doc.data["g"] is None
    assert doc.data["h"] == "1:30" and doc.data["i"] == "2024-01-01"
    assert doc.data["j"] == 12
    assert doc.data["k"] == -math.inf


def test_positions_of_values_and_keys():
    doc = parse_document("a:\n  b: [1, {c: x}]\n  'd.e': 2\n")
    assert doc.positions[("a", "b", 1, "c")] == (2, 14)
    assert doc.key_positions[("a", "b")] == (2, 3)
    assert doc.key_positions[("a", "d.e")] == (3, 3)
    assert doc.locate(("a", "b", 1, "c", "missing", 0)) == (2, 14)
    assert doc.locate_key(("a",)) == (1, 1)


def test_duplicate_keys_are_reported_at_the_second_key():
    assert _codes("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n") == [
        ("yaml.duplicate_key", 4, 3), ("yaml.duplicate_key", 5, 1)]


@pytest.mark.parametrize("text, code", [
    ("- a\n- b\n", "yaml.not_mapping"),
    ("42\n", "yaml.not_mapping"),
    ("", "yaml.not_mapping"),
    ("# only a comment\n", "yaml.not_mapping"),
    ("a: [1, 2\n", "yaml.syntax"),
    ("a: 1\n---\nb: 2\n", "yaml.syntax"),
    ("a: !custom 1\n", "yaml.unsupported_tag"),
    ("a: !!set {x}\n", "yaml.unsupported_tag"),
    ("? [a, b]\n: 1\n", "yaml.bad_key"),
    ("a: &x [*x]\n", "yaml.too_deep"),
    ("a: " + "{b: " * 80 + "1" + "}" * 80 + "\n", "yaml.too_deep"),
    ("a: *missing\n", "yaml.syntax"),
])
def test_hostile_or_malformed_yaml_is_a_clean_error(text, code):
    assert _codes(text)[0][0] == code


def test_small_aliases_are_expanded():
    doc = parse_document("base: &h {X-A: '1'}\napi: {headers: *h}\n")
    assert doc.data["api"]["headers"] == {"X-A": "1"}


def test_env_references_and_placeholders():
    doc = parse_document(
        "a: '${HOST:-https://x.test}/v1'\nb: '${SECRET}'\nc: 'k={env:SIGNING_KEY}'\nd: '{{env:LITERAL}}'\n")
    refs, issues = env_references(doc)
    assert issues == []
    assert [(r.json_path, r.name, r.has_default, r.placeholder) for r in refs] == [
        (("a",), "HOST", True, False),
        (("b",), "SECRET", False, False),
        (("c",), "SIGNING_KEY", False, True),
    ]


def test_malformed_env_reference_is_located():
    doc = parse_document("api:\n  base_url: '${HOST'\n")
    _, issues = env_references(doc)
    assert [(i.code, i.line, i.col) for i in issues] == [("env.syntax", 2, 13)]


def test_interpolation_uses_the_given_environment_and_reports_missing():
    data = {"a": "${HOST:-https://x.test}/v1", "b": ["${SECRET}", 3], "c": "plain"}
    result, missing = interpolated(data, {"HOST": "http://127.0.0.1:8080"})
    assert result == {"a": "http://127.0.0.1:8080/v1", "b": ["", 3], "c": "plain"}
    assert missing == ["SECRET"]


@pytest.mark.parametrize(("text", "line", "words"), [
    ('id: acme\nname: "Acme\napi:\n  base_url: x\n', 2, "a quoted string starts here and is never closed"),
    ("a: [1, 2\nb: 3\n", 1, "the '[' opened here is not closed"),
    ("a: 1\n\tb: 2\n", 2, "a tab character: YAML indents with spaces only"),
    ("auth:\n  scopes:\n    - a\n   - b\n", 4, "indented differently from the block it belongs to (started at line 2)"),
    ("key: value: more\n", 1, "the value needs quotes because it contains ': '"),
    ("api:\n  a: 1\n   b: 2\n", 3, "indented deeper than the keys around it"),
    ("a: *nothing\n", 1, "must refer to an anchor (&name) written before it"),
])
def test_yaml_syntax_errors_in_plain_words_where_the_structure_broke(text, line, words):
    with pytest.raises(DocumentError) as caught:
        parse_document(text, "x.yaml")
    (issue,) = caught.value.issues
    assert (issue.code, issue.line) == ("yaml.syntax", line) and words in issue.message, issue.message
    assert "while scanning" not in issue.message and "while parsing" not in issue.message
