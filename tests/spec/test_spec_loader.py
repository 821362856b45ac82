"""load_spec / load_specs_dir: the runtime's way in."""

from __future__ import annotations

import shutil

import pytest

from engine.spec.document import LocatedIssue
from engine.spec.errors import SpecError
from engine.spec.loader import load_spec, load_specs_dir
from tests.spec.helpers import CORPUS, REPO_ROOT

VENDORS = REPO_ROOT / "vendors"


def test_load_spec_compiles_a_shipped_spec_with_a_given_environment():
    env = {"WHOOP_API_BASE": "http://127.0.0.1:8765", "WHOOP_CLIENT_ID": "id", "WHOOP_CLIENT_SECRET": "s"}
    spec = load_spec(VENDORS / "whoop.yaml", env=env)
    assert spec.id == "whoop"
    assert spec.api.base_url == "http://127.0.0.1:8765/developer"
    assert spec.auth.configured
    assert spec.env_missing == ()


def test_unset_credentials_are_recorded_not_fatal():
    spec = load_spec(VENDORS / "whoop.yaml", env={})
    assert not spec.auth.configured
    assert set(spec.env_missing) == {"WHOOP_CLIENT_ID", "WHOOP_CLIENT_SECRET"}


def test_load_spec_raises_with_located_issues():
    with pytest.raises(SpecError) as caught:
        load_spec(CORPUS / "unit_cannot_convert.yaml", env={})
    issue = caught.value.issues[0]
    assert isinstance(issue, LocatedIssue)
    assert (issue.code, issue.line) == ("unit.convert", 54)
    assert issue.file.endswith("unit_cannot_convert.yaml")


def test_load_specs_dir_keys_by_id_and_filters(tmp_path):
    for name in ("whoop.yaml", "oura.yaml"):
        shutil.copy(VENDORS / name, tmp_path / name)
    assert set(load_specs_dir(tmp_path, env={})) == {"whoop", "oura"}
    assert set(load_specs_dir(tmp_path, only=["oura"], env={})) == {"oura"}
    with pytest.raises(SpecError) as caught:
        load_specs_dir(tmp_path, only=["nobody"], env={})
    assert caught.value.issues[0].code == "spec.not_found"


def test_load_specs_dir_reports_every_broken_file_and_duplicate_ids(tmp_path):
    shutil.copy(VENDORS / "oura.yaml", tmp_path / "oura.yaml")
    shutil.copy(VENDORS / "oura.yaml", tmp_path / "oura_copy.yaml")
    shutil.copy(CORPUS / "duplicate_key.yaml", tmp_path / "broken.yaml")
    with pytest.raises(SpecError) as caught:
        load_specs_dir(tmp_path, env={})
    codes = sorted(i.code for i in caught.value.issues)
    assert codes == ["spec.duplicate_id", "yaml.duplicate_key"]
