"""One slow endpoint never delays another: each endpoint gets at most its own slots
(ENGINE_OUTBOUND_PER_ENDPOINT) of the process's requests in flight, so an endpoint that takes
seconds to answer holds those and the others are served meanwhile."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.auth.harness import AUTH
from tests.e2e.helpers import engine_app
from tests.e2e.receiver import Answer, Receiver, running_receiver

pytestmark = pytest.mark.anyio


async def events(engine, users: range) -> list[str]:
    """One event per user (distinct users: no order between them)."""
    return [await engine.store.add_outbox_event("connection.created", {"user_id": f"u{i}", "vendor": "whoop"},
                                                user_id=f"u{i}") for i in users]


async def register(client, receiver: Receiver) -> None:
    created = await client.post("/v1/endpoints", json={"url": receiver.url}, headers=AUTH)
    assert created.status_code == 201, created.text
    receiver.secret = created.json()["secret"]


async def wait_until(what: str, done, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@pytest.mark.slow  # a deliberately slow customer endpoint: about 4 s of real time
async def test_a_slow_endpoint_holds_only_its_own_slots(env, clock):
    settings = {**env, "ENGINE_OUTBOUND_ALLOW_PRIVATE": "1", "ENGINE_OUTBOUND_PER_ENDPOINT": "2",
                "ENGINE_OUTBOUND_CONCURRENCY": "4"}
    with running_receiver() as slow, running_receiver() as fast:
        slow.script = [Answer(delay_s=3.0)] * 40  # every answer takes 3 s
        async with engine_app(settings, clock) as (engine, client):
            await register(client, slow)
            await events(engine, range(10))
            engine.outbound.start()
            await wait_until("the slow endpoint's first requests", lambda: len(slow.received) >= 2)
            await asyncio.sleep(0.3)  # free process slots and due messages: still only its own two
            assert len(slow.received) == 2

            await register(client, fast)
            wanted = set(await events(engine, range(10, 30)))
            await wait_until("the fast endpoint's messages", lambda: {r.webhook_id for r in fast.delivered()} >= wanted)
            # served in full while the slow one still waited for its first two answers
            assert len(slow.received) == 2
            assert all(r.verified for r in fast.received + slow.received)
            await engine.outbound.stop()
