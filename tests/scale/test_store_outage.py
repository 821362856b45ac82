"""PostgreSQL stopped for 20 seconds while webhooks keep arriving at two replicas: deliveries are
answered 503 during the outage (so the vendor retries), and once the database is back every
event is accepted, has exactly one job, and every job completes. Nothing is lost."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
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
from tests.scale.pgcluster import PgCluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.anyio]

RATE_PER_S = 30
SENDING_S = 30
OUTAGE_S = (5.0, 25.0)  # stopped from, started again at (seconds into the load)
FETCHES = 20
VENDOR_RETRY_S = 1.0


@dataclass(frozen=True)
class Attempt:
    started: float
    ended: float
    status: int | None  # None: no HTTP answer at all


@pytest.fixture
def own_postgres():
    server = PgCluster()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


def plan(sim, users: dict[str, str]) -> list[dict]:
    vendor_users = list(users.values())
    sleeps = [
        (vendor_user, record["id"])
        for vendor_user in vendor_users
        for record in sim.state.records(VENDOR, "sleep", vendor_user)
    ]
    events = [
        whoop_event(vendor_user, "sleep.updated", sleep_id, f"fetch-{n}")
        for n, (vendor_user, sleep_id) in enumerate(sleeps[:FETCHES])
    ]
    for n in range(RATE_PER_S * SENDING_S - len(events)):
        events.append(
            whoop_event(vendor_users[n % len(vendor_users)], "workout.deleted", f"w-{n}", f"o-{n}")
        )
    # Spread the fetches over the whole run, some of them into the outage.
    step = len(events) // FETCHES
    for n in range(FETCHES):
        events[n], events[n * step] = events[n * step], events[n]
    return events


async def test_deliveries_during_an_outage_are_refused_then_all_delivered(
    own_postgres: PgCluster, sim, tmp_path: Path
) -> None:
    store = await open_test_store(own_postgres.url, tmp_path)
    users = await connect_users(store, sim, 2)
    await store.close()
    events = plan(sim, users)
    secret = sim.state.client(VENDOR).client_secret
    attempts: dict[str, list[Attempt]] = {event["trace_id"]: [] for event in events}
    outage: dict[str, float] = {}

    with cluster(own_postgres.url, sim, tmp_path) as engines:
        replicas = [engines.start_replica(), engines.start_replica()]
        engines.start_worker()
        engines.start_worker()
        limits = httpx2.Limits(max_connections=400, max_keepalive_connections=64)
        async with httpx2.AsyncClient(timeout=20, limits=limits) as client:
            begin = time.monotonic()

            async def like_a_vendor(index: int, event: dict) -> None:
                """Deliver until accepted, retrying refusals and failures after a pause."""
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    started = time.monotonic()
                    try:
                        status = (
                            await deliver(client, replicas[index % 2], secret, event)
                        ).status_code
                    except httpx2.HTTPError:
                        status = None
                    attempts[event["trace_id"]].append(Attempt(started, time.monotonic(), status))
                    if status is not None and status < 300:
                        return
                    await asyncio.sleep(VENDOR_RETRY_S)

            async def database_outage() -> None:
                await asyncio.sleep(OUTAGE_S[0])
                await asyncio.to_thread(own_postgres.stop)
                outage["stopped"] = time.monotonic()
                await asyncio.sleep(begin + OUTAGE_S[1] - time.monotonic())
                outage["starting"] = time.monotonic()
                await asyncio.to_thread(own_postgres.start)

            async def load() -> None:
                tasks = []
                for index, event in enumerate(events):
                    await asyncio.sleep(max(0.0, begin + index / RATE_PER_S - time.monotonic()))
                    tasks.append(asyncio.create_task(like_a_vendor(index, event)))
                await asyncio.gather(*tasks)

            await asyncio.gather(load(), database_outage())

        flat = [attempt for tries in attempts.values() for attempt in tries]
        statuses = Counter(attempt.status for attempt in flat)
        assert set(statuses) <= {200, 202, 204, 503}, statuses
        assert all(tries and tries[-1].status < 300 for tries in attempts.values())
        during = [
            a for a in flat if a.started >= outage["stopped"] and a.ended <= outage["starting"]
        ]
        assert during and {a.status for a in during} == {503}
        accepted_after = min(
            a.ended for a in flat if a.started >= outage["starting"] and a.status < 300
        )

        store = await open_test_store(own_postgres.url, tmp_path)
        try:
            counts = await wait_for_jobs(store, timeout_s=60)
            jobs = await all_jobs(store, kind="webhook_event")
            ids = Counter(job.payload["event_id"] for job in jobs)
            assert set(ids) == set(attempts) and max(ids.values()) == 1
            assert {job.state for job in jobs} == {"done"}
            assert counts["failed"] == counts["dead"] == 0
            fetched = {e["id"] for e in events if e["type"] == "sleep.updated"}
            calls = sim.state.calls_to(VENDOR, "/developer/v2/activity/sleep/")
            assert {c.path.rsplit("/", 1)[-1] for c in calls} == fetched
        finally:
            await store.close()
        print(
            f"outage: {len(during)} deliveries answered 503 while stopped, "
            f"{statuses[503]} in all; first accepted {accepted_after - outage['starting']:.1f}s "
            "after the restart began"
        )
