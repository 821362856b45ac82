"""The raw archive's end-to-end tests: the engine on WHOOP against the simulator, on SQLite and,
where a test asks for `database_url`, on the PostgreSQL server the suite starts as well."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.auth.harness import clock, env, sim  # noqa: F401
from tests.store.pg import drop_test_schemas, postgres_test_url


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_schemas() -> Iterator[None]:
    yield
    drop_test_schemas()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path: Path) -> str | None:
    """None: the engine's SQLite file in its data directory."""
    return None if request.param == "sqlite" else postgres_test_url(tmp_path)
