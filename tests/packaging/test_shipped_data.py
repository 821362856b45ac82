"""The package ships the same schemas and vendor specs as the editable top-level copies."""

from __future__ import annotations

from pathlib import Path

from engine.engine import Settings
from engine.spec.catalogue import SCHEMAS_DIR, SHIPPED_VENDORS_DIR

ROOT = Path(__file__).resolve().parents[2]


def _files(folder: Path, pattern: str) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob(pattern))}


def test_packaged_schemas_and_specs_equal_the_editable_copies():
    assert _files(SCHEMAS_DIR, "*.json") == _files(ROOT / "schemas", "*.json")
    assert _files(SHIPPED_VENDORS_DIR, "*.yaml") == _files(ROOT / "vendors", "*.yaml")
    assert len(_files(SHIPPED_VENDORS_DIR, "*.yaml")) >= 9


def test_without_a_local_vendors_folder_the_engine_loads_the_packaged_specs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).vendors_dir == SHIPPED_VENDORS_DIR
    (tmp_path / "vendors").mkdir()
    assert Settings.from_env({}).vendors_dir == Path("vendors")
    assert Settings.from_env({"ENGINE_VENDORS_DIR": "/elsewhere"}).vendors_dir == Path("/elsewhere")
