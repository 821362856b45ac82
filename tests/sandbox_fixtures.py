"""pytest fixtures: `from tests.sandbox_fixtures import sim` in a test module (or conftest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.app import create_sim
from sandbox.server import RunningSim, serve_in_thread


@pytest.fixture
def sim() -> Iterator[RunningSim]:
    """A fresh simulator (all profiles, rate limits on) on a free loopback port."""
    with serve_in_thread(create_sim()) as running:
        yield running


@pytest.fixture
def sim_env(sim: RunningSim, monkeypatch: pytest.MonkeyPatch) -> RunningSim:
    """`sim`, with <VENDOR>_API_BASE / _AUTHORIZE_BASE / _TOKEN_BASE / _CLIENT_ID / _CLIENT_SECRET set."""
    for key, value in sim.env().items():
        monkeypatch.setenv(key, value)
    return sim
