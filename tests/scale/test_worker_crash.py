"""A worker killed with SIGKILL in the middle of a job: its lease lapses and the other worker
runs the job to completion within the lease plus five seconds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx2
import pytest

from tests.scale.harness import (
    VENDOR,
    cluster,
    connect_users,
    deliver,
    open_test_store,
    wait_for_jobs,
    whoop_event,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.anyio]

LEASE_S = 4.0
SLEEP_PATH = "/developer/v2/activity/sleep/"


async def test_job_of_a_killed_worker_completes_on_the_other_worker(
    database_url: str, sim, tmp_path: Path
) -> None:
    store = await open_test_store(database_url, tmp_path)
    try:
        users = await connect_users(store, sim, 1)
        vendor_user = users["user-0"]
        record = next(
            r
            for r in sim.state.records(VENDOR, "sleep", vendor_user)
            if r["score_state"] == "SCORED"
        )
        # The first fetch hangs, so the job is mid-flight when its worker dies.
        sim.state.inject(VENDOR, SLEEP_PATH.rstrip("/"), "timeout", times=1, seconds=60)
        with cluster(database_url, sim, tmp_path) as engines:
            replica = engines.start_replica()
            workers = [engines.start_worker(lease_s=LEASE_S), engines.start_worker(lease_s=LEASE_S)]
            secret = sim.state.client(VENDOR).client_secret
            async with httpx2.AsyncClient(timeout=10) as client:
                event = whoop_event(vendor_user, "sleep.updated", record["id"], "crash-1")
                assert (await deliver(client, replica, secret, event)).status_code < 300

            deadline = time.monotonic() + 30
            while not sim.state.calls_to(VENDOR, SLEEP_PATH):
                assert time.monotonic() < deadline, "no worker fetched the record"
                await asyncio.sleep(0.05)
            (job,) = await store.list_jobs(kind="webhook_event")
            job = await store.get_job(job.id)
            assert job.state == "running" and job.lease_owner is not None
            holder_pid = int(job.lease_owner.split(":")[-2])
            (doomed,) = [w for w in workers if w.pid == holder_pid]
            doomed.kill9()
            killed_at = time.monotonic()

            await wait_for_jobs(store, timeout_s=LEASE_S + 5)
            took = time.monotonic() - killed_at
            done = await store.get_job(job.id)
            assert done.state == "done" and done.attempts == 2, done
            assert took < LEASE_S + 5
            assert len(sim.state.calls_to(VENDOR, SLEEP_PATH)) == 2
            page = await store.list_samples("user-0", sample_types=["sleep_session"])
            assert [s.vendor_record_id for s in page.samples] == [record["id"]]
    finally:
        await store.close()
