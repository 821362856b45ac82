"""10,000 signed WHOOP deliveries, a fifth of them duplicates, sent concurrently to two replicas
while two workers drain the queue: exactly one job per distinct event, and the fetched records'
samples stored."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import httpx2
import pytest

from tests.scale.harness import (
    AUTH,
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

DELIVERIES = 10_000
DUPLICATE_SHARE = 0.2
SAMPLED_FETCHES = 40  # events whose records the workers fetch; the rest are cheap deletes
SENDERS = 48


def plan_events(rng: random.Random, sim, users: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """Distinct events: a sampled subset of `sleep.updated` for real records, the rest
    `*.deleted` of unknown records (a job each, no vendor call). Returns (distinct, deliveries)."""
    distinct = []
    sleeps = [
        (vendor_user, record["id"])
        for vendor_user in users.values()
        for record in sim.state.records(VENDOR, "sleep", vendor_user)
    ]
    for n, (vendor_user, sleep_id) in enumerate(rng.sample(sleeps, SAMPLED_FETCHES)):
        distinct.append(whoop_event(vendor_user, "sleep.updated", sleep_id, f"fetch-{n}"))
    unique = int(DELIVERIES * (1 - DUPLICATE_SHARE))
    vendor_users = list(users.values())
    for n in range(unique - SAMPLED_FETCHES):
        event_type = rng.choice(["sleep.deleted", "workout.deleted"])
        distinct.append(
            whoop_event(rng.choice(vendor_users), event_type, f"gone-{n}", f"trace-{n}")
        )
    deliveries = distinct + [rng.choice(distinct) for _ in range(DELIVERIES - unique)]
    rng.shuffle(deliveries)
    return distinct, deliveries


async def send_all(replicas: list[str], secret: str, deliveries: list[dict]) -> Counter:
    statuses: Counter = Counter()
    queue: asyncio.Queue = asyncio.Queue()
    for index, event in enumerate(deliveries):
        queue.put_nowait((replicas[index % len(replicas)], event))
    limits = httpx2.Limits(max_connections=SENDERS, max_keepalive_connections=SENDERS)
    async with httpx2.AsyncClient(timeout=30, limits=limits) as client:

        async def sender() -> None:
            while not queue.empty():
                replica, event = queue.get_nowait()
                statuses[(await deliver(client, replica, secret, event)).status_code] += 1

        await asyncio.gather(*(sender() for _ in range(SENDERS)))
    return statuses


async def test_duplicated_flood_to_two_replicas_makes_exactly_the_expected_jobs(
    database_url: str, sim, tmp_path: Path
) -> None:
    rng = random.Random(8)
    store = await open_test_store(database_url, tmp_path)
    try:
        users = await connect_users(store, sim, 3)
        distinct, deliveries = plan_events(rng, sim, users)
        secret = sim.state.client(VENDOR).client_secret
        with cluster(database_url, sim, tmp_path) as engines:
            replicas = [engines.start_replica(), engines.start_replica()]
            engines.start_worker(concurrency=8)
            engines.start_worker(concurrency=8)

            statuses = await send_all(replicas, secret, deliveries)
            assert set(statuses) <= {200, 202, 204} and sum(statuses.values()) == DELIVERIES, (
                statuses
            )
            counts = await wait_for_jobs(store, timeout_s=120)

            jobs = await all_jobs(store, kind="webhook_event")
            keys = Counter(job.payload["event_id"] for job in jobs)
            assert len(jobs) == len(distinct) and set(keys) == {e["trace_id"] for e in distinct}
            assert max(keys.values()) == 1
            assert counts["done"] == len(jobs) and counts["failed"] == counts["dead"] == 0

            fetched = [e for e in distinct if e["type"] == "sleep.updated"]
            assert len(sim.state.calls_to(VENDOR, "/developer/v2/activity/sleep/")) == len(fetched)
            by_vendor_user = {vendor_user: user for user, vendor_user in users.items()}
            async with httpx2.AsyncClient(base_url=replicas[1], headers=AUTH) as api:
                for event in fetched:
                    user = by_vendor_user[str(event["user_id"])]
                    response = await api.get(
                        f"/v1/users/{user}/samples",
                        params={"type": "sleep_session", "limit": 1000},
                    )
                    assert response.status_code == 200, response.text
                    record = next(
                        r
                        for r in sim.state.records(VENDOR, "sleep", str(event["user_id"]))
                        if r["id"] == event["id"]
                    )
                    stored = [
                        s
                        for s in response.json()["samples"]
                        if s["provenance"]["vendor_record_id"] == event["id"]
                    ]
                    if record.get("score_state") != "SCORED":
                        assert stored == []  # the spec maps scored sleeps only
                        continue
                    stages = record["score"]["stage_summary"]
                    assert len(stored) == 1
                    assert stored[0]["rem_s"] == stages["total_rem_sleep_time_milli"] / 1000
                    assert stored[0]["timestamp_utc"].endswith("Z")
    finally:
        await store.close()
