"""How many Hypothesis examples a property test runs: its full count in CI (CI=true), at most a
few hundred locally so the inner loop stays quick. Profiles `ci` and `dev` (tests/conftest.py) set
the default for tests that name no count."""

from __future__ import annotations

import os

IN_CI = os.environ.get("CI", "").lower() == "true"
LOCAL_CAP = 200


def examples(full: int) -> int:
    return full if IN_CI else min(full, LOCAL_CAP)
