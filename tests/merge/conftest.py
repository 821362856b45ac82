from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.store import Store, open_store
from tests.auth.harness import clock, engine_and_client, env, sim  # noqa: F401 - the app tests' fixtures
from tests.store.helpers import TEST_SECRET, ManualClock
from tests.store.pg import drop_test_schemas, postgres_test_url


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_schemas() -> Iterator[None]:
    yield
    drop_test_schemas()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request, tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite:///{tmp_path}/engine.db" if request.param == "sqlite" else postgres_test_url(tmp_path)
    opened = await open_store(url, tmp_path, secret_keys=[TEST_SECRET], clock=ManualClock())
    try:
        yield opened
    finally:
        await opened.close()
