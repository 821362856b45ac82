"""What a receiver remembers between deliveries: a vendor user's connection (found ones only, for a
second) and when it last stamped a connection's `last_webhook_at` (at most once a second)."""

from __future__ import annotations

import json

import pytest

from tests.webhooks.app_helpers import client, make_app
from tests.webhooks.conftest import WHOOP_SECRET, connect
from tests.webhooks.signers import whoop_headers

pytestmark = pytest.mark.anyio

T0 = 1_767_225_600.0


async def _deliver(http, clock: list[float], trace: str, user: int = 10129) -> dict:
    body = json.dumps({"user_id": user, "id": f"sleep-{trace}", "type": "sleep.updated",
                       "trace_id": trace}).encode()
    answer = await http.post("/v1/webhooks/whoop", content=body,
                             headers=whoop_headers(WHOOP_SECRET, body, int(clock[0] * 1000)))
    assert answer.status_code == 200
    return answer.json()


async def test_a_user_who_connects_right_after_an_unmatched_delivery_is_found(specs, store):
    clock = [T0]
    async with client(make_app(specs, store, clock=lambda: clock[0])) as http:
        assert (await _deliver(http, clock, "before"))["jobs"] == 0  # nobody has connected yet
        await connect(store, "whoop", "app-user-1", "10129")
        assert (await _deliver(http, clock, "after"))["jobs"] == 1  # no memory of the miss


async def test_last_webhook_at_is_stamped_at_most_once_a_second(specs, store):
    await connect(store, "whoop", "app-user-1", "10129")
    clock = [T0]

    async def stamped() -> float | None:
        return (await store.get_connection("whoop", "app-user-1")).last_webhook_at

    async with client(make_app(specs, store, clock=lambda: clock[0])) as http:
        await _deliver(http, clock, "t0")
        first = await stamped()
        assert first is not None
        clock[0] = T0 + 0.6
        assert (await _deliver(http, clock, "t0.6"))["jobs"] == 1
        assert await stamped() == first  # within the second: the job is made, the stamp kept
        clock[0] = T0 + 1.2
        await _deliver(http, clock, "t1.2")
        assert await stamped() > first  # (the store stamps with its own clock)
