"""Shared by the worker tests: a frozen clock, the root logger put back after the commands under
test configure it, and the environment of an engine on one WHOOP spec pointed at a module's `sim`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.server import RunningSim
from tests.auth.harness import API_KEY, PUBLIC_URL, SECRET_KEY, Clock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def env(sim: RunningSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    vendors = tmp_path / "vendors"
    vendors.mkdir()
    (vendors / "whoop.yaml").write_bytes((ROOT / "vendors/whoop.yaml").read_bytes())
    values = {**sim.env(), "ENGINE_VENDORS_DIR": str(vendors), "ENGINE_DATA_DIR": str(tmp_path / "data"),
              "ENGINE_API_KEY": API_KEY, "ENGINE_PUBLIC_URL": PUBLIC_URL, "ENGINE_SECRET_KEY": SECRET_KEY,
              "ENGINE_INITIAL_SYNC": "0"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values
