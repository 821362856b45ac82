"""`engine sync VENDOR USER --since DATE` against the simulator: the backfill runs inline to the
simulator's ground truth with progress on stderr; failures exit 1 with the reason and no
traceback; bad usage exits 2."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.cli import main
from engine.cli.sync import Progress
from engine.store import open_store
from engine.store.port import Sync
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
        (["sync", "whoop", "user-1"], 2, "--since are required"),
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


def test_the_command_runs_only_its_own_windows_and_cancel_drops_the_rest(env, sim, connected, capsys):
    async def queue_other_work() -> str:
        async with engine_app(env, Clock()) as (engine, _client):
            plan = await engine.sync.plan("whoop", "user-1", since=datetime.now(UTC) - timedelta(days=41),
                                          resources=["cycle"])
            return plan.sync.sync_id

    other = asyncio.run(queue_other_work())  # a sync started through the API, for the workers
    assert main(["sync", "whoop", "user-1", "--since", since(41), "--resources", "sleep"]) == 0
    capsys.readouterr()
    assert sim.state.calls_to("whoop", "/developer/v2/cycle") == []  # not this command's work

    assert main(["sync", "--cancel", other]) == 0
    err = capsys.readouterr().err
    assert f"cancelled {other}: 2 window(s) dropped, 0 done" in err
    assert main(["sync", "--cancel", "sync_nope"]) == 1
    assert "no sync with this id" in capsys.readouterr().err


def test_a_repeated_warning_is_counted_in_the_bar_not_printed_again():
    stream = io.StringIO()
    progress = Progress(stream)
    handler = logging.StreamHandler(stream)
    handler.addFilter(progress.gate)
    log = logging.getLogger("engine.test.bar")
    log.addHandler(handler)
    log.propagate = False
    try:
        for record in range(50):
            log.warning("sample skipped: %s", f"record {record}")
    finally:
        log.removeHandler(handler)
    sync = Sync("s", "whoop", "u", 4, 1, 10, 0, None, None, {}, 0.0, 0.0)
    progress.show(sync, 90.0)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "sample skipped: record 0" and len(lines) == 2
    assert lines[1] == "[#######---------------------] 1/4 windows, 10 records, 50 warning(s), ETA 1m30s"
    progress.finish(sync)
    assert "50 warning(s); 49 repeat(s)" in stream.getvalue()


@pytest.mark.slow
def test_ctrl_c_finishes_the_running_window_and_leaves_the_rest_queued(env, sim, connected):
    sim.state.inject("whoop", SLEEP_PATH, "timeout", times=1000, seconds=0.5)  # a slow vendor
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "sync", "whoop", "user-1", "--since", since(120),
         "--resources", "sleep"],
        cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("[") and "1/" in line:  # one window stored, more to go
                break
        process.send_signal(signal.SIGINT)
        rest = process.stderr.read()
        assert process.wait(timeout=60) == 130, rest
    finally:
        process.kill()
    assert "stopping after the running window" in rest and "stay queued" in rest, rest
    assert "Traceback" not in rest

    async def job_states() -> list[str]:
        store = await open_store(None, Path(env["ENGINE_DATA_DIR"]), secret_keys=[SECRET_KEY])
        try:
            return [job.state for job in await store.list_jobs(kind="sync_window")]
        finally:
            await store.close()

    states = asyncio.run(job_states())
    assert "running" not in states and "queued" in states, states  # nothing left holding a lease
