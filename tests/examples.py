"""How many Hypothesis examples a property test runs: its full count in CI (CI=true), at most a
few hundred locally, and a few dozen in `make test-fast` (ENGINE_TEST_PROFILE=fast), the inner
loop, where a property still runs every time but the broad search is left to `make test` and CI.
Profiles `ci`, `dev` and `fast` (tests/conftest.py) set the default for tests that name no count."""

from __future__ import annotations

import os

IN_CI = os.environ.get("CI", "").lower() == "true"
PROFILE = "ci" if IN_CI else "fast" if os.environ.get("ENGINE_TEST_PROFILE") == "fast" else "dev"
LOCAL_CAP = {"ci": None, "dev": 200, "fast": 25}[PROFILE]


def examples(full: int) -> int:
    return full if LOCAL_CAP is None else min(full, LOCAL_CAP)
