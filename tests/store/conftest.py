"""Fixtures for the storage contract suite: every store test runs once per adapter.

PostgreSQL tests use the server named by ENGINE_TEST_POSTGRES_URL (`make test` starts a throwaway
one); each test gets its own schema. Without that variable they skip, unless CI=true, where a
missing server is a failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.store import Store, open_store

from .helpers import TEST_SECRET, ManualClock
from .pg import drop_test_schemas, postgres_test_url

ADAPTERS = ["sqlite", "postgres"]


def store_url(adapter: str, directory: Path) -> str:
    """The database URL of `adapter` for the test whose private directory is `directory`; the
    same directory always gets the same (fresh at first use) database."""
    if adapter == "sqlite":
        return f"sqlite:///{directory}/engine.db"
    if adapter == "postgres":
        return postgres_test_url(directory)
    raise AssertionError(f"unknown adapter {adapter}")


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_schemas() -> Iterator[None]:
    yield
    drop_test_schemas()


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
