"""Every ```yaml block of the guide is a valid spec, or a valid part of one.

A block is marked by the comment on the line above its fence:
- `<!-- spec: full -->`: a complete spec, validated as it is;
- `<!-- spec: into PATH -->`: a mapping whose keys are placed (replacing what was there) at PATH
  (dotted, `.` for the top) of a minimal valid spec, which is then validated.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.merge.rules import load_rules
from engine.spec.validate import check_file, format_text
from tests.docs.markdown import Block, all_blocks

BASE: dict[str, Any] = {
    "spec_version": 1,
    "id": "acme",
    "name": "Acme Band",
    "api": {"base_url": "https://api.acme-band.example"},
    "auth": {
        "type": "oauth2",
        "authorize_url": "https://api.acme-band.example/oauth/authorize",
        "token_url": "https://api.acme-band.example/oauth/token",
        "client_id": "${ACME_CLIENT_ID}",
        "client_secret": "${ACME_CLIENT_SECRET}",
    },
    "webhooks": {
        "verify": {"type": "hmac", "algorithm": "sha256", "key": "{env:ACME_WEBHOOK_SECRET}",
                   "message": "{body}", "signature": {"header": "X-Sig", "encoding": "hex"}},
        "events": {"id": "event_id", "user": "user_id", "type": "type", "object_id": "object_id"},
        "on": {"sleep.created": {"fetch": "sleep"}},
    },
    "resources": {
        "sleep": {
            "list": {"request": {"path": "/v1/sleep", "params": {"start": "{window.start}", "end": "{window.end}"}},
                     "records": "data", "window": {"max": "30d", "format": "iso"}},
            "get": {"request": {"path": "/v1/sleep/{id}"}},
            "changes": {"request": {"path": "/v1/sleep/received",
                                    "params": {"from": "{window.start}", "to": "{window.end}"}},
                        "records": "data", "window": {"max": "1d", "format": "iso"}},
            "samples": [{"type": "sleep_session", "record_id": "id", "start": "start_time", "end": "end_time",
                         "values": {"asleep_s": {"path": "total_sleep_minutes", "unit": "min"}}}],
        },
        "heart_rate": {
            "list": {"request": {"path": "/v1/heartrate", "params": {"date": "{window.start}"}},
                     "records": "samples", "window": {"max": "1d", "format": "date"}},
            "samples": [{"type": "heart_rate", "timestamp": {"path": "time", "format": "epoch_s"},
                         "values": {"bpm": {"path": "bpm", "unit": "bpm"}}}],
        },
    },
}

# Merge rules files (docs/merged-view.md) are not specs: they are checked by their own loader.
YAML_BLOCKS = [b for b in all_blocks("yaml") if "merge-rules" not in b.marker]
MERGE_RULES_BLOCKS = [b for b in all_blocks("yaml") if b.marker.get("merge-rules") == "full"]


def embed(snippet: Any, path: str) -> dict[str, Any]:
    spec = copy.deepcopy(BASE)
    target: Any = spec
    for key in [] if path == "." else path.split("."):
        target = target.setdefault(key, {})
    assert isinstance(snippet, dict), "an `into` snippet must be a mapping"
    target.update(snippet)
    return spec


def env_for(text: str) -> dict[str, str]:
    """Every ${VAR} without a default gets a stand-in value, like a configured deployment."""
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))
    return {name: f"test-{name.lower()}" for name in names | {"ACME_CLIENT_ID", "ACME_CLIENT_SECRET"}}


def check(text: str, tmp_path: Path, block: Block) -> None:
    path = tmp_path / "snippet.yaml"
    path.write_text(text, encoding="utf-8")
    report = check_file(path, env=env_for(text))
    problems = "\n".join(format_text(issue) for issue in report.issues)
    assert report.ok, f"{block.where}: the snippet does not validate:\n{problems}\n---\n{text}"


def test_the_guide_has_yaml_snippets():
    assert len(YAML_BLOCKS) >= 30
    assert any(b.marker.get("spec") == "full" for b in YAML_BLOCKS)


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=[b.where for b in YAML_BLOCKS])
def test_yaml_snippet_is_a_valid_spec_or_part_of_one(block: Block, tmp_path: Path):
    kind = block.marker.get("spec")
    assert kind, f"{block.where}: mark the block with <!-- spec: full --> or <!-- spec: into PATH -->"
    if kind == "full":
        check(block.text, tmp_path, block)
        return
    assert kind.startswith("into "), f"{block.where}: unknown marker {kind!r}"
    snippet = yaml.safe_load(block.text)
    text = yaml.safe_dump(embed(snippet, kind[len("into "):].strip()), sort_keys=False)
    check(text, tmp_path, block)


def test_a_broken_snippet_is_caught(tmp_path: Path):
    """The check above is not vacuous: a misspelt key in an embedded snippet fails."""
    spec = embed({"paginate": {"type": "cursor", "nxt": "next_cursor", "param": "cursor"}}, "resources.sleep.list")
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert not check_file(path, env=env_for("")).ok


@pytest.mark.parametrize("block", MERGE_RULES_BLOCKS, ids=[b.where for b in MERGE_RULES_BLOCKS])
def test_merge_rules_snippet_loads(block: Block, tmp_path: Path):
    path = tmp_path / "merge.yaml"
    path.write_text(block.text, encoding="utf-8")
    load_rules(path)  # raises MergeRulesError with file:line:col on any problem


def test_the_guide_shows_merge_rules():
    assert MERGE_RULES_BLOCKS
