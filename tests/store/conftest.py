"""Fixtures for the storage contract suite: every store test runs once per adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.store import Store, open_store

from .helpers import TEST_SECRET, ManualClock

# The PostgreSQL adapter joins this list (skipping without a server) when it exists.
ADAPTERS = ["sqlite"]


def store_url(adapter: str, directory: Path) -> str:
    if adapter == "sqlite":
        return f"sqlite:///{directory}/engine.db"
    raise AssertionError(f"unknown adapter {adapter}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=ADAPTERS)
def adapter(request) -> str:
    return request.param


@pytest.fixture
async def store(adapter: str, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Store]:
    opened = await open_store(
        store_url(adapter, tmp_path), tmp_path, secret_keys=[TEST_SECRET], clock=clock
    )
    try:
        yield opened
    finally:
        await opened.close()
