from __future__ import annotations

import pytest
from hypothesis import settings

from tests.examples import PROFILE

settings.register_profile("ci", max_examples=1000, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("fast", max_examples=20, deadline=None)
settings.load_profile(PROFILE)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
