"""`engine map` over every recorded WHOOP and Oura fixture: snapshot, checked-in expectation, schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from tests.mapping.helpers import VENDOR_IDS, assert_valid_samples, fixture_paths, shipped_spec

USER = "app-user-1"
FIXTURES = [(vendor, path) for vendor in VENDOR_IDS for path in fixture_paths(vendor)]


def _run_map(vendor: str, path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    resource = path.name.split(".")[0]
    status = main(["map", f"vendors/{vendor}.yaml", resource, str(path), "--user-id", USER])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out, err


@pytest.mark.parametrize(("vendor", "path"), FIXTURES, ids=[f"{v}/{p.stem}" for v, p in FIXTURES])
def test_fixture_output(vendor, path, snapshot, capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    out, err = _run_map(vendor, path, capsys)
    samples = [json.loads(line) for line in out.splitlines()]
    assert samples, "every fixture yields samples"
    assert err == "", "recorded fixtures map without warnings"
    assert_valid_samples(samples)
    assert out == path.with_name(path.stem + ".expected.jsonl").read_text()
    assert samples == snapshot


@pytest.mark.parametrize("vendor", VENDOR_IDS)
def test_every_resource_has_fixtures(vendor):
    spec = shipped_spec(vendor)
    names = {p.stem for p in fixture_paths(vendor)}
    for resource in spec.resources.values():
        if resource.list is not None:
            assert f"{resource.name}.list" in names
        if resource.get is not None:
            assert f"{resource.name}.get" in names


@pytest.mark.parametrize(("vendor", "path"), FIXTURES, ids=[f"{v}/{p.stem}" for v, p in FIXTURES])
def test_fixture_page_shape(vendor, path):
    body = json.loads(path.read_text())
    if path.stem.endswith(".list"):
        envelope = "records" if vendor == "whoop" else "data"
        assert set(body) == {envelope, "next_token"}
        assert isinstance(body[envelope], list) and body[envelope]
    else:
        assert "id" in body or "sleep_id" in body
