"""`engine sync VENDOR USER --since DATE` against the simulator: the backfill runs inline to the
simulator's ground truth with progress on stderr; failures exit 1 with the reason and no
traceback; bad usage exits 2."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.cli import main
from engine.store import open_store
from sandbox.app import Simulator
from sandbox.server import RunningSim, serve_in_thread
from sandbox.state import SimState
from tests.auth.harness import SECRET_KEY, Clock, connect
from tests.e2e.helpers import engine_app

ROOT = Path(__file__).resolve().parents[2]
SLEEP_PATH = "/developer/v2/activity/sleep"


@pytest.fixture
def sim(clock: Clock) -> Iterator[RunningSim]:
    with serve_in_thread(Simulator(SimState(["whoop"], clock=clock))) as running:
        yield running



@pytest.fixture
def connected(env, sim, clock):
    user = sim.state.add_user("whoop", days=40)

    async def run() -> None:
        async with engine_app(env, clock) as (_engine, client):
            assert (await connect(client, "whoop", "user-1")).status_code == 200

    asyncio.run(run())
    return user


def since(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).date().isoformat()


async def stored_record_ids(env: dict[str, str], sample_type: str) -> list[str]:
    store = await open_store(None, Path(env["ENGINE_DATA_DIR"]), secret_keys=[SECRET_KEY])
    try:
        page = await store.list_samples("user-1", sample_types=[sample_type], limit=10_000)
        return [s.vendor_record_id for s in page.samples]
    finally:
        await store.close()


def test_sync_runs_inline_to_ground_truth(env, sim, connected, capsys):
    code = main(["sync", "whoop", "user-1", "--since", since(41), "--resources", "sleep,cycle"])
    err = capsys.readouterr().err
    assert code == 0, err
    truth_sleeps = sorted(r["id"] for r in sim.state.records("whoop", "sleep", connected.key))
    assert sorted(asyncio.run(stored_record_ids(env, "sleep_session"))) == truth_sleeps
    truth_cycles = sorted(str(c["id"]) for c in sim.state.records("whoop", "cycle", connected.key) if c["end"])
    assert sorted(asyncio.run(stored_record_ids(env, "total_energy"))) == truth_cycles
    assert "4 window(s) (sleep 2, cycle 2)" in err
    assert "4/4 windows" in err and "] 0/4 windows" in err  # progress from nothing to done
    assert "engine sync: done: 4 window(s)" in err
    assert "Traceback" not in err


def test_a_window_the_vendor_refuses_fails_the_command(env, sim, connected, capsys):
    sim.state.inject("whoop", SLEEP_PATH, "server_error", times=1000, status=400)
    code = main(["sync", "whoop", "user-1", "--since", since(41), "--resources", "sleep"])
    err = capsys.readouterr().err
    assert code == 1
    assert "failed: 2 of 2 window(s)" in err and "HTTP 400" in err
    assert "Traceback" not in err


def test_bad_input_is_a_clear_error(env, sim, connected, capsys):
    cases = [
        (["sync", "whoop", "user-1", "--since", "last week"], 2, "is not a date"),
        (["sync", "whoop", "user-1", "--since", "2024-01-01T00:00:00"], 2, "needs a UTC offset"),
        (["sync", "nope", "user-1", "--since", since(3)], 1, "nope"),
        (["sync", "whoop", "nobody", "--since", since(3)], 1, "no whoop connection"),
        (["sync", "whoop", "user-1", "--since", since(3), "--resources", "naps"], 1, "no resource 'naps'"),
        (["sync", "whoop", "user-1", "--since", "2099-01-01"], 1, "since must be before"),
        (["sync", "whoop", "user-1"], 2, ""),
    ]
    for argv, expected, message in cases:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == expected, (argv, err)
        assert message in err and "Traceback" not in err, (argv, err)


@pytest.mark.slow
def test_the_engine_command_syncs_with_a_progress_line_per_window(env, sim, connected):
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "sync", "whoop", "user-1", "--since", since(41),
         "--resources", "sleep"],
        cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert progress[0].endswith("0/2 windows, 0 records") and "2/2 windows" in progress[-1]
    truth = sorted(r["id"] for r in sim.state.records("whoop", "sleep", connected.key))
    assert sorted(asyncio.run(stored_record_ids(env, "sleep_session"))) == truth
