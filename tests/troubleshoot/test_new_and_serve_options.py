"""`engine new` scaffolds, and the `engine serve --env-file` reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import build_parser, serve
from engine.troubleshoot.envfile import EnvFileError, read_env_file


def test_new_writes_a_spec_that_validates_and_tests_once_env_is_set(workspace, monkeypatch):
    code, out, _ = workspace.run("new", "zenring", "--dir", "specs")
    assert code == 0
    assert "wrote specs/zenring.yaml" in out and "ZENRING_CLIENT_ID" in out
    spec = (workspace.root / "specs" / "zenring.yaml").read_text()
    assert spec.startswith("# yaml-language-server: $schema=")
    assert '"${ZENRING_CLIENT_ID}"' in spec and "id: zenring" in spec
    fixtures = workspace.root / "specs" / "zenring" / "fixtures"
    assert sorted(p.name for p in fixtures.iterdir()) == [
        "sleep.list.expected.jsonl", "sleep.list.json", "webhook.sleep.expected.json", "webhook.sleep.json"]
    sample = json.loads((fixtures / "sleep.list.expected.jsonl").read_text().splitlines()[0])
    assert sample["source"] == "zenring" and sample["asleep_s"] == 452 * 60

    monkeypatch.setenv("ZENRING_CLIENT_ID", "id")
    monkeypatch.setenv("ZENRING_CLIENT_SECRET", "secret")
    monkeypatch.setenv("ZENRING_WEBHOOK_SECRET", "hook")
    code, _, err = workspace.run("validate", "--check-env", "specs/zenring.yaml")
    assert code == 0, err
    code, out, _ = workspace.run("test", "specs/zenring.yaml")
    assert code == 0 and "passed" in out


def test_new_refuses_bad_ids_and_never_overwrites(workspace):
    code, _, err = workspace.run("new", "Zen-Ring")
    assert code == 2 and "is not a vendor id" in err
    code, _, err = workspace.run("new", "acme")  # vendors/acme.yaml exists in the workspace
    assert code == 1 and "already exists; not overwriting it" in err
    assert "Acme Band" in (workspace.root / "vendors" / "acme.yaml").read_text()


def test_env_file_reads_comments_export_and_quotes(tmp_path: Path):
    path = tmp_path / ".env.local"
    path.write_text("# comment\n\nexport A=1\nB = 'two words'\nC=\"x#y\"\nD=plain # trailing\nE=\n")
    assert read_env_file(path) == {"A": "1", "B": "two words", "C": "x#y", "D": "plain", "E": ""}


def test_env_file_errors_name_the_line_not_the_value(tmp_path: Path):
    path = tmp_path / ".env"
    path.write_text("GOOD=1\nthis is not an assignment sk_live_123\n")
    with pytest.raises(EnvFileError) as raised:
        read_env_file(path)
    assert str(raised.value).endswith(":2: expected NAME=value")
    assert "sk_live_123" not in str(raised.value)


def test_serve_env_file_failures_exit_2(tmp_path: Path, capsys):
    args = build_parser().parse_args(["serve", "--env-file", str(tmp_path / "missing.env")])
    assert serve.run(args, environ={}) == 2
    assert "No such file" in capsys.readouterr().err
    bad = tmp_path / "bad.env"
    bad.write_text("NOPE\n")
    args = build_parser().parse_args(["serve", "--env-file", str(bad)])
    assert serve.run(args, environ={}) == 2
    assert "expected NAME=value" in capsys.readouterr().err


def test_serve_env_file_values_reach_the_engine_and_the_environment_wins(tmp_path: Path, capsys):
    env_file = tmp_path / ".env.local"
    env_file.write_text(f"ENGINE_VENDORS_DIR={tmp_path / 'nowhere'}\nENGINE_API_KEY=from-file\n")
    args = build_parser().parse_args(["serve", "--env-file", str(env_file), "--host", "0.0.0.0"])
    # The key from the file allows a public bind; the vendors dir from the file does not exist,
    # so serve stops before binding and says which directory it read.
    assert serve.run(args, environ={}) == 1
    assert "nowhere" in capsys.readouterr().err
    args = build_parser().parse_args(["serve", "--env-file", str(env_file), "--host", "0.0.0.0"])
    assert serve.run(args, environ={"ENGINE_VENDORS_DIR": str(tmp_path / "elsewhere")}) == 1
    assert "elsewhere" in capsys.readouterr().err
