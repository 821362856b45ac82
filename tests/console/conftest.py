from __future__ import annotations

from tests.auth.harness import clock, env, sim  # noqa: F401
