"""Fixtures of the scale-out tests: a fresh PostgreSQL schema and a WHOOP simulator per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.app import Simulator
from sandbox.server import RunningSim, serve_in_thread
from sandbox.state import SimState
from tests.store.pg import drop_test_schemas, postgres_test_url


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_schemas() -> Iterator[None]:
    yield
    drop_test_schemas()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return postgres_test_url(tmp_path)


@pytest.fixture
def sim() -> Iterator[RunningSim]:
    """The simulator with its rate limits lifted: these tests are about concurrency unless they
    set a limit themselves."""
    state = SimState(["whoop"])
    state.lift_limits()
    with serve_in_thread(Simulator(state)) as running:
        yield running
