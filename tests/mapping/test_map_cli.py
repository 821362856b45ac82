"""`engine map` as a process: stdin, exit codes, warnings on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.mapping.compiler import map_page
from engine.mapping.result import PayloadError
from tests.mapping.helpers import REPO_ROOT, assert_valid_samples, fixture, shipped_spec

WHOOP = str(REPO_ROOT / "vendors" / "whoop.yaml")


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", "map", *args], input=stdin, check=False,
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)


def test_reads_stdin_and_prints_json_lines():
    page = json.dumps(fixture("whoop", "workout.list"))
    done = run(WHOOP, "workout", "-", "--user-id", "someone", stdin=page)
    assert done.returncode == 0, done.stderr
    samples = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(samples) == 4 and {s["user_id"] for s in samples} == {"someone"}
    assert_valid_samples(samples)


def test_out_of_range_values_are_reported_on_stderr(tmp_path: Path):
    page = fixture("whoop", "workout.list")
    page["records"][1]["score"]["max_heart_rate"] = 400
    page["records"][1]["score"]["kilojoule"] = "lots"
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page))
    done = run(WHOOP, "workout", str(path))
    assert done.returncode == 0
    workout = json.loads(done.stdout.splitlines()[0])
    assert "max_hr_bpm" not in workout and "kcal" not in workout and workout["avg_hr_bpm"] == 123
    lines = done.stderr.splitlines()
    assert len(lines) == 2
    assert "field kcal: value.rejected: expected a number" in lines[0]
    assert "field max_hr_bpm: value.rejected: 400 bpm is outside [20, 250]" in lines[1]


def test_as_forces_the_reading():
    record = json.dumps(fixture("whoop", "sleep.get"))
    assert len(run(WHOOP, "sleep", "--as", "get", stdin=record).stdout.splitlines()) == 3
    done = run(WHOOP, "sleep", "--as", "list", stdin=record)
    assert done.returncode == 1 and "not a list page" in done.stderr


@pytest.mark.parametrize(("args", "stdin", "status"), [
    ((WHOOP, "sleep"), "{not json", 1),
    ((WHOOP, "sleep"), "", 1),
    ((WHOOP, "sleep"), '{"records": [{"id": NaN}]}', 1),
    ((WHOOP, "sleep", "/nonexistent/page.json"), "", 1),
    ((WHOOP, "sleep"), "[1, 2]", 1),                   # neither a page nor a record
    ((WHOOP,), "", 2),                                 # missing RESOURCE
    ((WHOOP, "sleep", "--as", "both"), "", 2),
    ((WHOOP, "naps"), "{}", 2),                        # unknown resource
    (("/nonexistent/spec.yaml", "sleep"), "{}", 2),
])
def test_exit_codes(args, stdin, status):
    done = run(*args, stdin=stdin)
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip()


def test_map_page_reads_a_get_record_path_and_rejects_non_objects():
    spec = shipped_spec("oura")
    result = map_page(spec, "workout", fixture("oura", "workout.get"), "u1")
    assert [s["sample_type"] for s in result.samples] == ["workout"]
    with pytest.raises(PayloadError):
        map_page(spec, "workout", "text", "u1")
    with pytest.raises(PayloadError):
        map_page(spec, "heartrate", {"data": None}, "u1", as_="list")


def test_no_output_always_says_why():
    page = fixture("whoop", "sleep.list")
    as_get = run(WHOOP, "sleep", "--as", "get", stdin=json.dumps(page))
    assert as_get.returncode == 1 and "this is a list page of sleep" in as_get.stderr
    assert as_get.stdout == ""

    empty = run(WHOOP, "sleep", stdin=json.dumps({"records": [], "next_token": None}))
    assert empty.returncode == 0 and "the page holds no records" in empty.stderr

    elsewhere = run(WHOOP, "sleep", stdin=json.dumps({"data": page["records"]}))
    assert elsewhere.returncode == 0 and elsewhere.stdout == ""
    assert "'records' finds no array in the payload" in elsewhere.stderr

    for record in page["records"]:
        record["score_state"] = "PENDING_SCORE"
    unscored = run(WHOOP, "sleep", stdin=json.dumps(page))
    assert unscored.stdout == "" and "no sample mapping's `when` holds" in unscored.stderr
