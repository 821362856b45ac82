"""Shared helpers of the storage tests."""

from __future__ import annotations

import time
from pathlib import Path

TEST_SECRET = "test-secret-0123456789-abcdefghijklmnop"


class ManualClock:
    """A clock the test moves by hand; starts at the real time so ids and files look normal."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def file_bytes(directory: Path) -> bytes:
    """Everything the database wrote to disk (main file, WAL, shared memory)."""
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())
