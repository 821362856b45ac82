"""Shared by the worker tests: a frozen clock, and the root logger put back after the commands
under test configure it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.auth.harness import Clock


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def clock() -> Clock:
    return Clock()
