from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.server import RunningSim
from tests.auth.harness import Clock
from tests.vendors.harness import running_sim


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Iterator[RunningSim]:
    with running_sim(clock) as running:
        yield running
