"""`engine test`: replays fixtures, records expectations with --update, fails on drift, on a
resource or event type without a fixture, and on an event type the spec does not route."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def whoop_copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "vendors" / "whoop.yaml", tmp_path / "whoop.yaml")
    shutil.copytree(ROOT / "vendors" / "whoop" / "fixtures", tmp_path / "whoop" / "fixtures")
    fixtures = tmp_path / "whoop" / "fixtures"
    for path in fixtures.glob("webhook.*"):
        path.unlink()
    for event_type in ("sleep.updated", "sleep.deleted", "workout.updated", "workout.deleted",
                       "recovery.updated", "recovery.deleted"):
        body = {"user_id": 10129, "id": "ecfc6a15-4661-442f-a9a4-f160dd7afae8", "type": event_type,
                "trace_id": f"trace-{event_type}"}
        (fixtures / f"webhook.{event_type}.json").write_text(json.dumps(body))
    return tmp_path / "whoop.yaml"


def run(capsys, *args: str) -> tuple[int, str]:
    status = main(["test", *args])
    out, err = capsys.readouterr()
    return status, out + err


def test_update_records_then_passes_and_detects_drift(whoop_copy: Path, capsys) -> None:
    fixtures = whoop_copy.parent / "whoop" / "fixtures"
    status, out = run(capsys, str(whoop_copy))
    assert status == 1 and "no webhook.sleep.updated.expected.json" in out
    status, out = run(capsys, str(whoop_copy), "--update")
    assert status == 0, out
    recorded = json.loads((fixtures / "webhook.sleep.deleted.expected.json").read_text())
    assert recorded["events"][0]["routes"] == [{"action": "delete", "resource": "sleep"}]
    assert recorded["events"][0]["user"] == "10129"
    status, out = run(capsys, str(whoop_copy))
    assert status == 0, out
    assert "6 event type(s) covered; passed" in out
    # A changed expectation is a failure naming the line and the fields that differ.
    expected = fixtures / "sleep.list.expected.jsonl"
    expected.write_text(expected.read_text().replace('"source":"whoop"', '"source":"other"', 1)
                        .replace('"asleep_s":2100,', '', 1))
    status, out = run(capsys, str(whoop_copy))
    assert status == 1
    assert ('sleep.list.expected.jsonl: line 1 (sleep_session 2024-03-02T18:55:30Z): source: expected '
            '"other", got "whoop"; asleep_s unexpected (2100)') in out
    events = fixtures / "webhook.sleep.deleted.expected.json"
    events.write_text(events.read_text().replace('"10129"', '"10130"'))
    status, out = run(capsys, str(whoop_copy))
    assert 'webhook.sleep.deleted.expected.json: events[0].user: expected "10130", got "10129"' in out


def test_missing_fixtures_and_unrouted_events_fail(whoop_copy: Path, capsys) -> None:
    fixtures = whoop_copy.parent / "whoop" / "fixtures"
    assert run(capsys, str(whoop_copy), "--update")[0] == 0
    for path in fixtures.glob("cycle.*"):
        path.unlink()
    (fixtures / "webhook.workout.deleted.json").unlink()
    (fixtures / "webhook.odd.json").write_text(json.dumps({"user_id": 1, "id": 2, "type": "body.updated"}))
    status, out = run(capsys, str(whoop_copy), "--update")
    assert status == 1
    assert "FAIL resource cycle: no fixture" in out
    assert "FAIL event workout.deleted: no webhook fixture delivers this event type" in out
    assert "event type 'body.updated' is not declared in `on`" in out


def test_schema_violations_and_unreadable_fixtures_fail(whoop_copy: Path, capsys) -> None:
    fixtures = whoop_copy.parent / "whoop" / "fixtures"
    (fixtures / "sleep.get.json").write_text("{not json")
    status, out = run(capsys, str(whoop_copy), "--update")
    assert status == 1 and "FAIL fixture sleep.get.json" in out


def test_invalid_spec_and_unreadable_path(tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec_version: 1\nid: broken\n")
    status, out = run(capsys, str(broken))
    assert status == 1 and "FAIL validate" in out
    status, _ = run(capsys, str(tmp_path / "missing.yaml"))
    assert status == 2
    status, _ = run(capsys)
    assert status == 2


def test_shipped_specs_all_load_under_the_command(capsys) -> None:
    # Every shipped spec at least validates and maps its response fixtures without schema errors.
    status, out = run(capsys, str(ROOT / "vendors"))
    assert "FAIL validate" not in out
    assert "schema error" not in out
    assert status == 0, out
