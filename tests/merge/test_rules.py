"""merge.yaml is checked like a spec: JSON Schema, then the sample catalogue; every problem at
file:line:col with a suggestion where one is likely. The packaged rules pass and say what the
docs say."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.merge.rules import (
    DEFAULT_RULES_PATH,
    MergeRulesError,
    load_rules,
    located,
    rules_from_env,
)

ROOT = Path(__file__).resolve().parents[2]


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "merge.yaml"
    path.write_text(text)
    with pytest.raises(MergeRulesError) as raised:
        load_rules(path)
    return [located(issue).removeprefix(f"{path}:") for issue in raised.value.issues]


HEAD = "merge_version: 1\npriorities:\n  default: [garmin, oura]\n"


def test_the_packaged_rules_load_and_match_the_documented_defaults() -> None:
    rules = load_rules(DEFAULT_RULES_PATH)
    assert rules_from_env({}) == rules
    assert rules.priority("sleep_session")[:2] == ("oura", "whoop")
    assert rules.priority("steps")[0] == "garmin"
    assert rules.priority("steps", {"*": ["apple_health"]}) == ("apple_health",)
    assert rules.priority("steps", {"steps": ["oura"], "*": ["apple_health"]}) == ("oura",)
    assert {t: r.kind for t, r in rules.types.items() if r.kind in ("additive", "event")} == {
        "steps": "additive", "active_energy": "additive", "total_energy": "additive",
        "distance": "additive", "sleep_session": "event", "workout": "event"}
    assert rules.family("Trail Run") == rules.family("TRAIL_RUNNING") == "running"
    doc = (ROOT / "docs" / "merged-view.md").read_text()
    assert "sleep_session: [oura, whoop, garmin" in doc and "default: [garmin, polar, wahoo" in doc


def test_an_unknown_key_is_placed_with_a_suggestion(tmp_path: Path) -> None:
    assert _problems(tmp_path, HEAD + "types:\n  workout: {kind: event, match: {start_within: 5m, end_within: 5m},"
                     " overlap_tolerence: 1m}\n") == [
        "5:69: unknown key 'overlap_tolerence' (did you mean 'overlap_tolerance'?)"]


def test_catalogue_checks_place_unknown_types_fields_and_wrong_kinds(tmp_path: Path) -> None:
    assert _problems(tmp_path, HEAD + "  sleep_sesion: [oura]\ntypes:\n  heart_rate: {kind: additive}\n"
                     "  weight: {kind: measurement, within: 5m, values: {kgs: {absolute: 1}}}\n") == [
        "4:3: unknown sample type 'sleep_sesion' (or `default`) (did you mean 'sleep_session'?)",
        "6:22: kind 'additive' needs an interval type; heart_rate is a point type",
        "7:52: weight has no numeric field 'kgs'; it has: kg (did you mean 'kg'?)",
    ]


def test_yaml_and_shape_errors_are_located(tmp_path: Path) -> None:
    twice = "merge_version: 1\npriorities:\n  default: [garmin]\n  default: [oura]\n"
    assert _problems(tmp_path, twice)[0].startswith("4:")
    assert _problems(tmp_path, "merge_version: 2\npriorities: {default: [a]}\n") == ["1:16: 1 was expected"]
    assert _problems(tmp_path, HEAD + "types:\n  heart_rate: {kind: bucket}\n") == [
        "5:3: missing required key 'bucket'"]
    assert _problems(tmp_path, HEAD + "activity_families:\n  running: [run]\n  cycling: [Run]\n") == [
        "6:13: 'Run' is already in family 'running'"]
