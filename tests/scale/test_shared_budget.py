"""Two workers share WHOOP's app budget of 100 requests per minute through the store, and the
simulator enforces the same limit. With more demand than the budget allows, over one full minute
window: not a single 429, and at least 90% of the allowance used."""

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
    whoop_event,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.anyio]

LIMIT, WINDOW_S = 100, 60  # the shipped spec's budget and the simulator's WHOOP window
EVENTS = 160  # more fetches than one window allows, so demand never runs dry


async def test_shared_budget_is_used_fully_without_a_single_429(
    database_url: str, sim, tmp_path: Path
) -> None:
    store = await open_test_store(database_url, tmp_path)
    try:
        users = await connect_users(store, sim, 2)
        records = [
            (vendor_user, resource, record["id"])
            for vendor_user in users.values()
            for resource in ("sleep", "workout")
            for record in sim.state.records(VENDOR, resource, vendor_user)
        ]
        with cluster(database_url, sim, tmp_path, budgets=None) as engines:
            replica = engines.start_replica()
            secret = sim.state.client(VENDOR).client_secret
            events = [
                whoop_event(vendor_user, f"{resource}.updated", record_id, f"b-{n}")
                for n, (vendor_user, resource, record_id) in enumerate(
                    records[n % len(records)] for n in range(EVENTS)
                )
            ]
            async with httpx2.AsyncClient(timeout=10) as client:
                answers = await asyncio.gather(
                    *(deliver(client, replica, secret, event) for event in events)
                )
            assert {answer.status_code for answer in answers} <= {200, 202, 204}
            sim.state.restore_limits(VENDOR)

            def vendor_calls() -> int:
                return len(sim.state.calls_to(VENDOR, "/developer/v2/activity/"))

            engines.start_worker(concurrency=12)
            engines.start_worker(concurrency=12)
            deadline = time.monotonic() + 30
            while vendor_calls() == 0:
                assert time.monotonic() < deadline, "the workers sent nothing"
                await asyncio.sleep(0.005)
            first = time.monotonic()
            while (elapsed := time.monotonic() - first) < WINDOW_S - 0.5:
                await asyncio.sleep(min(0.1, WINDOW_S - 0.5 - elapsed))
            sent = vendor_calls()
            assert time.monotonic() - first < WINDOW_S
            assert sim.state.served_429(VENDOR) == 0
            assert LIMIT >= sent >= 0.9 * LIMIT, f"{sent} requests in one {WINDOW_S}s window"
            print(f"shared budget: {sent} of {LIMIT} requests in {elapsed:.1f}s, 0 x 429")
    finally:
        await store.close()
