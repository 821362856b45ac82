"""Cross-process guarantees of the store, with real OS processes sharing one database."""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from engine.store import open_store

from . import mp_workers
from .conftest import ADAPTERS, store_url
from .helpers import TEST_SECRET

pytestmark = pytest.mark.slow
SPAWN = multiprocessing.get_context("spawn")


def run_processes(target, argument_sets: list[tuple], timeout_s: float = 120) -> None:
    processes = [SPAWN.Process(target=target, args=args) for args in argument_sets]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout_s)
    for process in processes:
        if process.is_alive():
            process.kill()
    assert [p.exitcode for p in processes] == [0] * len(processes)


async def _open(url: str, tmp_path: Path):
    return await open_store(url, tmp_path, secret_keys=[TEST_SECRET])


async def _create_schema(url: str, tmp_path: Path) -> None:
    await (await _open(url, tmp_path)).close()


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_refresh_lock_single_flight_across_processes(adapter: str, tmp_path: Path) -> None:
    url = store_url(adapter, tmp_path)

    async def setup() -> None:
        store = await _open(url, tmp_path)
        await store.upsert_connection(
            "acme",
            "u1",
            vendor_user_id="vu1",
            scopes=["offline"],
            access_token="stale",
            refresh_token="r0",
            token_expires_at=time.time() - 10,
        )
        await store.close()

    asyncio.run(setup())
    calls = tmp_path / "calls.txt"
    outs = [tmp_path / f"held-{n}.json" for n in range(4)]
    run_processes(
        mp_workers.refresh_contender,
        [(url, str(tmp_path), str(calls), str(out), 25) for out in outs],
    )
    assert len(calls.read_text().splitlines()) == 1  # exactly one token-endpoint call
    intervals = sorted(interval for out in outs for interval in json.loads(out.read_text()))
    assert len(intervals) == 100
    for (_, left_end), (right_start, _) in itertools.pairwise(intervals):
        assert right_start >= left_end  # never two holders at once, in any process


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_shared_budget_never_exceeds_its_rate_across_processes(
    adapter: str, tmp_path: Path
) -> None:
    url = store_url(adapter, tmp_path)
    asyncio.run(_create_schema(url, tmp_path))
    rate, burst, per_process = 80.0, 4, 20
    outs = [tmp_path / f"budget-{n}.json" for n in range(4)]
    run_processes(
        mp_workers.budget_contender,
        [(url, str(tmp_path), str(out), per_process, rate, burst) for out in outs],
    )
    slots = [pair for out in outs for pair in json.loads(out.read_text())]
    booked = sorted(slot for slot, _ in slots)
    emission = 1.0 / rate
    # GCRA: any k+1 consecutive grants span at least (k + 1 - burst) emission intervals.
    for i in range(len(booked)):
        for j in range(i + burst, len(booked)):
            assert booked[j] - booked[i] >= (j - i + 1 - burst) * emission - 1e-6
    # And the budget is used, not wasted: no idle gaps beyond the schedule.
    span = booked[-1] - booked[0]
    assert span <= (len(booked) - burst) * emission + 0.25
    sent = sorted(actual for _, actual in slots)
    window = 0.5
    most_in_window = max(sum(1 for t in sent if start <= t < start + window) for start in sent)
    assert most_in_window <= burst + window * rate + 2  # actual sends, allowing timer jitter


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_inbox_and_idempotent_enqueue_dedupe_across_processes(adapter: str, tmp_path: Path) -> None:
    url = store_url(adapter, tmp_path)  # the processes race to create the schema, too
    outs = [tmp_path / f"inbox-{n}.json" for n in range(4)]
    run_processes(mp_workers.inbox_contender, [(url, str(tmp_path), str(out), 300) for out in outs])
    created = sum(json.loads(out.read_text()) for out in outs)
    assert created == 300 + 50

    async def count() -> dict[str, int]:
        store = await _open(url, tmp_path)
        try:
            return await store.count_jobs()
        finally:
            await store.close()

    assert asyncio.run(count())["queued"] == 350


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_job_of_a_killed_worker_runs_again_after_its_lease(adapter: str, tmp_path: Path) -> None:
    from engine.store import JobSpec

    url = store_url(adapter, tmp_path)

    async def enqueue() -> str:
        store = await _open(url, tmp_path)
        try:
            return (await store.enqueue(JobSpec("event", {"n": 1}))).job_id
        finally:
            await store.close()

    job_id = asyncio.run(enqueue())
    out = tmp_path / "claimed.json"
    worker = SPAWN.Process(
        target=mp_workers.claim_and_hang, args=(url, str(tmp_path), str(out), 1.0)
    )
    worker.start()
    deadline = time.time() + 60
    while not out.exists() and time.time() < deadline:
        time.sleep(0.02)
    assert json.loads(out.read_text()) == job_id
    os.kill(worker.pid, signal.SIGKILL)
    worker.join(10)
    killed_at = time.time()

    async def reclaim():
        store = await _open(url, tmp_path)
        try:
            while True:
                job = await store.claim("survivor", lease_s=30)
                if job is not None:
                    return job
                await asyncio.sleep(0.05)
        finally:
            await store.close()

    job = asyncio.run(asyncio.wait_for(reclaim(), timeout=30))
    assert (job.id, job.attempts, job.lease_owner) == (job_id, 2, "survivor")
    assert time.time() - killed_at < 5
