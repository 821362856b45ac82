"""The `engine validate` and `engine schema` commands end to end."""

from __future__ import annotations

import json

import pytest

from engine.spec.catalogue import load_json_schema
from engine.spec.document import MAX_BYTES
from engine.spec.validate import check_file
from tests.spec.helpers import REPO_ROOT, VENDOR_SPECS, run_cli, run_validate_json

CREDENTIAL_WORDS = ("CLIENT_ID", "CLIENT_SECRET", "TOKEN", "SECRET")


@pytest.fixture
def no_credentials(monkeypatch):
    import os

    for name in list(os.environ):
        if any(word in name for word in CREDENTIAL_WORDS) or name.endswith("_API_BASE"):
            monkeypatch.delenv(name)


def test_shipped_specs_are_valid_without_credentials(capsys, no_credentials, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    assert len(VENDOR_SPECS) >= 2
    status, out, err = run_cli(capsys, "validate", *map(str, VENDOR_SPECS))
    assert status == 0, out
    assert out == ""
    assert f"{len(VENDOR_SPECS)} spec(s) checked, 0 invalid" in err


def test_folder_argument_checks_every_spec_in_it(capsys, no_credentials):
    status, issues = run_validate_json(capsys, str(REPO_ROOT / "vendors"))
    assert (status, issues) == (0, [])


def test_check_env_reports_unset_credentials_at_their_line(capsys, no_credentials):
    whoop = REPO_ROOT / "vendors" / "whoop.yaml"
    status, issues = run_validate_json(capsys, str(whoop), check_env=True)
    assert status == 1
    unset = {(i["json_path"], i["code"]) for i in issues}
    assert ("$.auth.client_id", "env.unset") in unset
    assert ("$.auth.client_secret", "env.unset") in unset
    text_lines = whoop.read_text().splitlines()
    for issue in issues:
        assert "${" in text_lines[issue["line"] - 1]


def test_check_env_says_each_unset_variable_once_with_the_specs_that_need_it(capsys, no_credentials, tmp_path):
    whoop = (REPO_ROOT / "vendors" / "whoop.yaml").read_text()
    first, second = tmp_path / "whoop.yaml", tmp_path / "whoop_eu.yaml"
    first.write_text(whoop)
    second.write_text(whoop.replace("id: whoop", "id: whoop_eu", 1))
    status, out, err = run_cli(capsys, "validate", "--check-env", str(first), str(second))
    assert status == 1
    lines = [line for line in out.splitlines() if "WHOOP_CLIENT_ID" in line]
    assert lines == [f"environment: WHOOP_CLIENT_ID is not set; needed by {first}:17, {second}:17 [env.unset]"]
    assert "2 spec(s) checked, 0 invalid, 0 error(s), 2 environment variable(s) unset" in err


def test_two_specs_with_one_id_are_refused_as_a_set(capsys, no_credentials, tmp_path):
    copy = tmp_path / "whoop_copy.yaml"
    copy.write_text((REPO_ROOT / "vendors" / "whoop.yaml").read_text())
    status, issues = run_validate_json(capsys, str(REPO_ROOT / "vendors" / "whoop.yaml"), str(copy))
    assert status == 1
    assert [(i["file"], i["code"], i["json_path"]) for i in issues] == [(str(copy), "spec.duplicate_id", "$.id")]


def test_check_env_passes_once_variables_are_set(capsys, no_credentials, monkeypatch):
    for name in ("WHOOP_CLIENT_ID", "WHOOP_CLIENT_SECRET"):
        monkeypatch.setenv(name, "set-for-test")
    status, issues = run_validate_json(capsys, str(REPO_ROOT / "vendors" / "whoop.yaml"), check_env=True)
    assert (status, issues) == (0, [])


def test_env_placeholders_in_templates_count_for_check_env(capsys, no_credentials, tmp_path):
    spec = (REPO_ROOT / "tests" / "spec" / "corpus" / "http_url.yaml").read_text()
    spec = spec.replace("http://auth.acme.test/token", "https://auth.acme.test/token")
    spec = spec.replace('key: "{client_secret}"', 'key: "{env:ACME_SIGNING_KEY}"')
    path = tmp_path / "acme.yaml"
    path.write_text(spec)
    assert run_validate_json(capsys, str(path)) == (0, [])
    status, issues = run_validate_json(capsys, str(path), check_env=True)
    assert status == 1
    assert any("ACME_SIGNING_KEY" in i["message"] and i["json_path"] == "$.webhooks.verify.key"
               for i in issues)


def test_json_output_has_exactly_the_documented_fields(capsys):
    status, issues = run_validate_json(capsys, str(REPO_ROOT / "tests/spec/corpus/unknown_key_suggestion.yaml"))
    assert status == 1
    assert issues == [{
        "file": str(REPO_ROOT / "tests/spec/corpus/unknown_key_suggestion.yaml"),
        "line": 15, "col": 3, "code": "schema.unknown_key", "json_path": "$.auth.scope",
        "message": "unknown key 'scope'", "suggestion": "scopes",
    }]


def test_huge_file_is_rejected_without_reading_it_all(capsys, tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# big\nname: " + b"x" * (MAX_BYTES + 10) + b"\n")
    status, issues = run_validate_json(capsys, str(path))
    assert status == 1
    assert [(i["code"], i["line"]) for i in issues] == [("io.too_large", 1)]


def test_missing_file_is_an_io_error(capsys, tmp_path):
    status, issues = run_validate_json(capsys, str(tmp_path / "absent.yaml"))
    assert status == 2
    assert issues[0]["code"] == "io.not_found"


def test_io_error_wins_over_invalid_files(capsys, tmp_path):
    broken = REPO_ROOT / "tests/spec/corpus/duplicate_key.yaml"
    status, issues = run_validate_json(capsys, str(broken), str(tmp_path / "absent.yaml"))
    assert status == 2
    assert {i["code"] for i in issues} == {"yaml.duplicate_key", "io.not_found"}


def test_folder_without_specs_is_a_usage_error(capsys, tmp_path):
    status, issues = run_validate_json(capsys, str(tmp_path))
    assert status == 2
    assert [i["code"] for i in issues] == ["io.no_specs"]


def test_unreadable_path_is_reported_cleanly(tmp_path):
    (tmp_path / "folder.yaml").mkdir()
    report = check_file(tmp_path / "folder.yaml")
    assert report.io_error
    assert [i.code for i in report.issues] == ["io.unreadable"]


@pytest.mark.parametrize("argv", [[], ["validate"], ["validate", "--format", "xml", "x.yaml"],
                                  ["no-such-command"]])
def test_usage_errors_exit_2(capsys, argv):
    status, _, err = run_cli(capsys, *argv)
    assert status == 2
    assert "usage:" in err


def test_help_exits_0(capsys):
    status, out, _ = run_cli(capsys, "--help")
    assert status == 0
    assert "validate" in out and "schema" in out


def test_version_prints_the_package_version(capsys):
    from importlib.metadata import version

    import engine

    status, out, _ = run_cli(capsys, "--version")
    assert status == 0 and out.strip() == f"engine {engine.__version__}"
    assert version("synheart-engine") == engine.__version__  # one version, set in the package


def test_schema_command_prints_the_spec_schema(capsys):
    status, out, _ = run_cli(capsys, "schema")
    assert status == 0
    assert json.loads(out) == load_json_schema("vendor-spec.schema.json")


def test_shipped_specs_point_editors_at_the_schema():
    for path in VENDOR_SPECS:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema=")
