"""Every broken spec in the corpus fails validation with the expected error at the expected line."""

from __future__ import annotations

import re

import pytest

from tests.spec.helpers import CORPUS, REPO_ROOT, run_cli, run_validate_json

EXPECT = re.compile(rb"^# expect: (\d+) ([a-z_]+\.[a-z_]+)")
CASES = sorted(CORPUS.glob("*.yaml"))


def _expectation(path) -> tuple[int, str]:
    match = EXPECT.match(path.read_bytes().split(b"\n", 1)[0])
    assert match, f"{path.name} has no '# expect: LINE CODE' first line"
    return int(match.group(1)), match.group(2).decode()


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_broken_spec_reports_expected_error(path, capsys, monkeypatch, snapshot):
    monkeypatch.chdir(REPO_ROOT)
    relative = str(path.relative_to(REPO_ROOT))
    line, code = _expectation(path)

    status, issues = run_validate_json(capsys, relative)
    assert status == 1
    assert issues, "an invalid spec must report at least one error"
    assert any(i["line"] == line and i["code"] == code for i in issues), issues
    assert all(i["file"] == relative for i in issues)

    status, out, err = run_cli(capsys, "validate", relative)
    assert status == 1
    assert "Traceback" not in out + err
    lines = out.splitlines()
    assert all(text.startswith(f"{relative}:") and ": error: " in text for text in lines)
    assert lines == snapshot
