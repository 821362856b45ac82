"""A worker killed with SIGKILL mid-job loses nothing: once its lease lapses another worker
process claims the job and runs it to completion."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.store import JobSpec, open_store

ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 2


def _env(tmp_path: Path) -> dict[str, str]:
    vendors = tmp_path / "vendors"
    vendors.mkdir(exist_ok=True)
    return {**os.environ, "ENGINE_DATA_DIR": str(tmp_path / "data"), "ENGINE_VENDORS_DIR": str(vendors),
            "ENGINE_SECRET_KEY": "s" * 40, "PYTHONPATH": str(ROOT)}


def _start_worker(tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "worker", "--lease", str(LEASE_S), "--poll", "0.1",
         "--handlers", "tests.worker.kill_handlers"],
        cwd=ROOT, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _wait_for(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return False


async def _store_call(tmp_path: Path, fn):
    store = await open_store(None, tmp_path / "data", secret_keys=["s" * 40])
    try:
        return await fn(store)
    finally:
        await store.close()


@pytest.mark.slow
def test_killed_worker_job_runs_again_after_lease(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    queued = asyncio.run(_store_call(tmp_path, lambda s: s.enqueue(
        JobSpec(kind="test_hang_then_finish", payload={"marks": str(marks)}))))
    first = _start_worker(tmp_path)
    try:
        assert _wait_for(marks / "started", 20), (
            first.stderr.read().decode() if first.poll() is not None else "no start")
        killed_at = time.monotonic()
        os.kill(first.pid, signal.SIGKILL)
        first.wait(5)
    finally:
        if first.poll() is None:
            first.kill()
    second = _start_worker(tmp_path)
    try:
        assert _wait_for(marks / "finished", LEASE_S + 20)
        assert time.monotonic() - killed_at >= LEASE_S * 0.5  # not before the lease could lapse
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(10)
        except subprocess.TimeoutExpired:
            second.kill()
    assert (marks / "finished").read_text() == "2"
    job = asyncio.run(_store_call(tmp_path, lambda s: s.get_job(queued.job_id)))
    assert job.state == "done" and job.attempts == 2
    assert second.returncode == 0
