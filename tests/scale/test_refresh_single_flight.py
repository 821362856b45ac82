"""One hundred jobs of one user, claimed at once by two worker processes, all find the access
token expired: the token endpoint is called exactly once and every job uses the new token."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx2
import pytest

from tests.scale.harness import (
    VENDOR,
    all_jobs,
    cluster,
    connect_users,
    deliver,
    open_test_store,
    wait_for_jobs,
    whoop_event,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.anyio]

JOBS = 100


async def test_hundred_concurrent_refreshes_make_one_token_call(
    database_url: str, sim, tmp_path: Path
) -> None:
    store = await open_test_store(database_url, tmp_path)
    try:
        users = await connect_users(store, sim, 1)
        vendor_user = users["user-0"]
        before = await store.get_connection(VENDOR, "user-0")
        expired = await store.update_tokens(
            VENDOR,
            "user-0",
            expected_version=before.token_version,
            access_token=before.access_token,
            refresh_token=None,
            token_expires_at=time.time() - 60,
        )
        sleeps = sim.state.records(VENDOR, "sleep", vendor_user)
        # A slow token endpoint keeps every job waiting on the one refresh in flight.
        sim.state.set_delay(VENDOR, 1.0, "/oauth/oauth2/token")
        token_calls = sim.state.token_calls(VENDOR)
        with cluster(database_url, sim, tmp_path) as engines:
            replicas = [engines.start_replica(), engines.start_replica()]
            secret = sim.state.client(VENDOR).client_secret
            async with httpx2.AsyncClient(timeout=10) as client:
                answers = await asyncio.gather(
                    *(
                        deliver(
                            client,
                            replicas[n % 2],
                            secret,
                            whoop_event(
                                vendor_user,
                                "sleep.updated",
                                sleeps[n % len(sleeps)]["id"],
                                f"r-{n}",
                            ),
                        )
                        for n in range(JOBS)
                    )
                )
            assert {a.status_code for a in answers} <= {200, 202, 204}
            assert (await store.count_jobs())["queued"] == JOBS

            engines.start_worker(concurrency=JOBS // 2)
            engines.start_worker(concurrency=JOBS // 2)
            counts = await wait_for_jobs(store, timeout_s=60)

            events = await all_jobs(store, kind="webhook_event")
            assert len(events) == JOBS and {job.state for job in events} == {"done"}
            assert counts["failed"] == counts["dead"] == 0
            assert sim.state.token_calls(VENDOR) - token_calls == 1
            assert sim.state.refresh_token_reuses(VENDOR) == 0
            after = await store.get_connection(VENDOR, "user-0")
            assert after.token_version == expired.token_version + 1
            assert after.token_expires_at > time.time()
            fetches = sim.state.calls_to(VENDOR, "/developer/v2/activity/sleep/")
            assert len(fetches) == JOBS
            bearer = {c.headers.get("authorization") for c in fetches}
            assert bearer == {f"Bearer {after.access_token}"}
    finally:
        await store.close()
