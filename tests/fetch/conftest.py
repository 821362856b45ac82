from __future__ import annotations

import pytest

from tests.sandbox_fixtures import sim  # noqa: F401  (the vendor simulator fixture)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
