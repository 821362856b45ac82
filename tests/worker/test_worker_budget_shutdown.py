"""`engine worker` stops within 10 s of SIGTERM while a job waits in place for a rate budget slot
(finding: 32 s, past the usual 30 s grace period). The job releases its lease without using an
attempt and is claimable again at its slot."""

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
SECRET = "s" * 40


def _env(tmp_path: Path) -> dict[str, str]:
    vendors = tmp_path / "vendors"
    vendors.mkdir(exist_ok=True)
    return {**os.environ, "ENGINE_DATA_DIR": str(tmp_path / "data"), "ENGINE_VENDORS_DIR": str(vendors),
            "ENGINE_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT)}


async def _store_call(tmp_path: Path, fn):
    store = await open_store(None, tmp_path / "data", secret_keys=[SECRET])
    try:
        return await fn(store)
    finally:
        await store.close()


def _wait_for(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_sigterm_while_a_job_waits_for_its_budget_exits_fast_and_requeues_the_job(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    queued = asyncio.run(_store_call(tmp_path, lambda s: s.enqueue(
        JobSpec(kind="test_wait_for_budget", payload={"marks": str(marks)}, max_attempts=1))))
    worker = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "worker", "--poll", "0.1", "--no-scheduler",
         "--handlers", "tests.worker.budget_handlers", "--log-format", "text"],
        cwd=ROOT, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert _wait_for(marks / "waiting-1", 30), worker.stderr.read() if worker.poll() is not None else "no start"
        time.sleep(0.5)  # well inside the ~40 s wait for the next slot
        signalled = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
        took = time.monotonic() - signalled
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(5)
    assert took < 10, (took, err)
    assert worker.returncode == 0, err
    assert not (marks / "finished").exists()
    job = asyncio.run(_store_call(tmp_path, lambda s: s.get_job(queued.job_id)))
    # Its only attempt is given back: the job is queued for its slot, not dead.
    assert job.state == "queued" and job.attempts == 0 and job.lease_owner is None, job
    assert job.run_at > time.time() + 20
    claimed = asyncio.run(_store_call(tmp_path, lambda s: s.claim("next-worker", now=job.run_at + 0.01)))
    assert claimed is not None and claimed.id == queued.job_id and claimed.attempts == 1
