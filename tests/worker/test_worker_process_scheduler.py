"""A real `engine worker` process runs the scheduler next to the job loop: a poll-only vendor's
new data arrives by polling alone. With --no-scheduler nothing is polled."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.store import open_store
from sandbox.app import Simulator
from sandbox.server import RunningSim, serve_in_thread
from sandbox.state import Record, SimState
from tests.auth.harness import API_KEY, PUBLIC_URL, SECRET_KEY, Clock, connect
from tests.e2e.helpers import engine_app

ROOT = Path(__file__).resolve().parents[2]
VENDOR = "poll_only_glucose"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Iterator[RunningSim]:
    with serve_in_thread(Simulator(SimState(["dexcom"], clock=clock))) as running:
        yield running


@pytest.fixture
def env(sim: RunningSim, tmp_path: Path) -> dict[str, str]:
    vendors = tmp_path / "vendors"
    vendors.mkdir()
    (vendors / f"{VENDOR}.yaml").write_bytes((ROOT / f"tests/specs/{VENDOR}.yaml").read_bytes())
    return {**sim.env(), "ENGINE_VENDORS_DIR": str(vendors), "ENGINE_DATA_DIR": str(tmp_path / "data"),
            "ENGINE_API_KEY": API_KEY, "ENGINE_PUBLIC_URL": PUBLIC_URL, "ENGINE_SECRET_KEY": SECRET_KEY,
            "ENGINE_INITIAL_SYNC": "0"}


def start_worker(env: dict[str, str], *flags: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "worker", "--poll", "0.1", "--scheduler-tick", "0.2",
         "--log-format", "json", *flags],
        cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def stop(worker: subprocess.Popen) -> tuple[int, list[dict]]:
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=20)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return worker.returncode, lines


async def glucose_ids(env: dict[str, str]) -> set[str]:
    store = await open_store(None, Path(env["ENGINE_DATA_DIR"]), secret_keys=[SECRET_KEY])
    try:
        page = await store.list_samples("user-1", source=VENDOR, limit=10_000)
        return {s.vendor_record_id for s in page.samples}
    finally:
        await store.close()


def add_fresh_reading(sim: RunningSim, user, now: float) -> None:
    fresh = copy.deepcopy(sim.state.records("dexcom", "egvs", user.key)[-1])
    fresh.update(recordId="fresh-egv-1", value=123,
                 systemTime=datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    sim.state.add_record("dexcom", "egvs", user.key, Record("fresh-egv-1", now, now, fresh))


@pytest.mark.slow
def test_engine_worker_polls_a_poll_only_vendor(env, sim, clock):
    user = sim.state.add_user("dexcom", days=2)

    async def connect_user() -> None:
        async with engine_app(env, clock) as (_engine, client):
            assert (await connect(client, VENDOR, "user-1")).status_code == 200

    asyncio.run(connect_user())
    add_fresh_reading(sim, user, clock() - 1)

    # Without the scheduler nothing ever polls: no samples after several poll intervals.
    idle = start_worker(env, "--no-scheduler")
    time.sleep(2.5)
    code, lines = stop(idle)
    assert code == 0
    assert any("scheduler off" in line["msg"] for line in lines)
    assert asyncio.run(glucose_ids(env)) == set()

    # The first poll reads the spec's day of history. The simulated history ends at the user's last
    # midnight, so how much of it lies in the last day depends on the time of day the test runs:
    # every record that started within a day before the worker did must arrive.
    worker_started = clock()
    history = {r["recordId"] for r in sim.state.records("dexcom", "egvs", user.key)}
    within_a_day = {r.data["recordId"] for r in sim.state.raw_records("dexcom", "egvs", user.key)
                    if r.start >= worker_started - 86_400 + 60}
    assert "fresh-egv-1" in within_a_day
    worker = start_worker(env)
    try:
        deadline = time.monotonic() + 30
        ids: set[str] = set()
        while time.monotonic() < deadline and not within_a_day <= ids:
            time.sleep(0.3)
            ids = asyncio.run(glucose_ids(env))
    finally:
        code, lines = stop(worker)
    assert within_a_day <= ids, (len(within_a_day - ids), lines[-10:])
    assert ids <= history  # nothing older than the horizon or invented
    assert code == 0
    polled = [line for line in lines if line["msg"] == "poll stored"]
    assert polled and all(line["vendor"] == VENDOR and line["user"] == "user-1" for line in polled)
    assert all(line.get("job_id") and line.get("trace_id") for line in polled)
