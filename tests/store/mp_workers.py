"""Entry points run in separate OS processes by the multi-process store tests."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from engine.store import BudgetRequest, InboxEvent, JobSpec, open_store

from .helpers import TEST_SECRET


def _write(path: str, value: object) -> None:
    Path(path).write_text(json.dumps(value))


def _record_token_endpoint_call(calls_file: str) -> None:
    with open(calls_file, "a") as calls:
        calls.write(f"{os.getpid()}\n")


def refresh_contender(url: str, data_dir: str, calls_file: str, out: str, callers: int) -> None:
    """`callers` coroutines each want a fresh token; only an expired one is refreshed."""

    async def main() -> list[list[float]]:
        store = await open_store(url, Path(data_dir), secret_keys=[TEST_SECRET])
        held: list[list[float]] = []

        async def caller() -> None:
            async with store.refresh_lock("acme", "u1", ttl_s=30, wait_s=60):
                entered = time.time()
                current = await store.get_connection("acme", "u1")
                if current.token_expires_at < time.time():
                    # The "token endpoint": every call leaves one line behind.
                    _record_token_endpoint_call(calls_file)
                    await asyncio.sleep(0.05)
                    await store.update_tokens(
                        "acme",
                        "u1",
                        expected_version=current.token_version,
                        access_token="fresh-access",
                        refresh_token="fresh-refresh",
                        token_expires_at=time.time() + 3600,
                    )
                await asyncio.sleep(0.003)
                held.append([entered, time.time()])
            assert (await store.get_connection("acme", "u1")).access_token == "fresh-access"

        await asyncio.gather(*(caller() for _ in range(callers)))
        await store.close()
        return held

    _write(out, asyncio.run(main()))


def budget_contender(
    url: str, data_dir: str, out: str, acquisitions: int, rate: float, burst: int
) -> None:
    async def main() -> list[list[float]]:
        store = await open_store(url, Path(data_dir), secret_keys=[TEST_SECRET])
        request = BudgetRequest("app:acme:shared", rate=rate, period_s=1.0, burst=burst)
        booked = []
        for _ in range(acquisitions):
            now = time.time()
            grant = await store.acquire_budget([request], now=now)
            await asyncio.sleep(grant.wait_s)
            booked.append([now + grant.wait_s, time.time()])
        await store.close()
        return booked

    _write(out, asyncio.run(main()))


def inbox_contender(url: str, data_dir: str, out: str, events: int) -> None:
    async def main() -> int:
        store = await open_store(url, Path(data_dir), secret_keys=[TEST_SECRET])
        results = await asyncio.gather(
            *(
                store.record_event_and_enqueue(
                    InboxEvent("acme", f"evt-{i}"), JobSpec("event", {"i": i})
                )
                for i in range(events)
            ),
            *(store.enqueue(JobSpec("sync", idempotency_key=f"window-{i}")) for i in range(50)),
        )
        await store.close()
        return sum(getattr(r, "created", False) for r in results)

    _write(out, asyncio.run(main()))


def claim_and_hang(url: str, data_dir: str, out: str, lease_s: float) -> None:
    async def main() -> None:
        store = await open_store(url, Path(data_dir), secret_keys=[TEST_SECRET])
        job = await store.claim("doomed-worker", lease_s=lease_s)
        _write(out, job.id)
        await asyncio.sleep(3600)

    asyncio.run(main())
