"""Replicas and workers on PostgreSQL refuse to start without the shared secret key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sandbox.server import free_port
from tests.scale.harness import ROOT


@pytest.mark.parametrize("command", [["serve", "--no-worker", "--port", "0"], ["worker"]])
def test_postgres_without_secret_key_fails_with_a_clear_message(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGINE_")}
    env["ENGINE_DATABASE_URL"] = f"postgresql://engine@127.0.0.1:{free_port()}/engine"
    if command[0] == "serve":
        command = [*command[:-1], str(free_port())]  # a port nothing else uses, never bound
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "ENGINE_SECRET_KEY is required" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
