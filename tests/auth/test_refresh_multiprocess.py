"""4 processes x 25 concurrent callers want a fresh token for one expired connection: exactly one
token-endpoint call, everyone gets the same new token, no invalid_grant, no refresh-token reuse."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from tests.auth.harness import ROOT, connect, engine_client

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PROCESSES = 4
CALLERS = 25


async def test_one_token_call_across_processes(env, sim, clock, tmp_path):
    async with engine_client(env, clock) as (engine, client):
        assert (await connect(client, "whoop", "u1")).status_code == 200
        connection = await engine.store.get_connection("whoop", "u1")
        # Expired for every process (they run on the real clock).
        expired = await engine.store.update_tokens(
            "whoop", "u1", expected_version=connection.token_version,
            access_token=connection.access_token, refresh_token=None, token_expires_at=time.time() - 10)
        assert expired is not None

    go = tmp_path / "go"
    child_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen(  # noqa: ASYNC220 -- started once, then awaited off-loop
        [sys.executable, "-m", "tests.auth.mp_refresh_worker", str(go), "whoop", "u1", str(CALLERS)],
        cwd=ROOT, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)]
    try:
        for proc in procs:
            assert await asyncio.to_thread(proc.stdout.readline) == "ready\n", proc.stderr.read()
        calls_before = sim.state.token_calls("whoop")
        go.touch()
        outputs = [await asyncio.to_thread(proc.communicate, timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    results = []
    for (stdout, stderr), proc in zip(outputs, procs, strict=True):
        assert proc.returncode == 0, stderr
        results.extend(json.loads(stdout.strip().splitlines()[-1])["results"])
    assert len(results) == PROCESSES * CALLERS
    assert [r for r in results if "error" in r] == []
    tokens = {r["token"] for r in results}
    assert len(tokens) == 1 and connection.access_token not in tokens
    assert sim.state.token_calls("whoop") - calls_before == 1
    assert sim.state.counters["whoop.token_errors.invalid_grant"] == 0
    assert sim.state.refresh_token_reuses("whoop") == 0
    assert sim.state.valid_access("whoop", tokens.pop()) is not None
