from __future__ import annotations

from tests.auth.harness import clock, engine_and_client, env, sim  # noqa: F401
