from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


from tests.sim.fixtures import sim  # noqa: F401  (the vendor simulator fixture)
