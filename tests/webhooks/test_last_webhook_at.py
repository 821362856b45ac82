"""A verified delivery for a connected vendor user stamps that connection's `last_webhook_at`; a
refused one, or one for a vendor user nobody connected, touches no connection."""

from __future__ import annotations

import json
import time

import pytest

from tests.webhooks.app_helpers import client, make_app
from tests.webhooks.conftest import WHOOP_SECRET, connect
from tests.webhooks.signers import whoop_headers

pytestmark = pytest.mark.anyio


def whoop_delivery(trace: str, user: int) -> bytes:
    return json.dumps({"user_id": user, "id": f"sleep-{trace}", "type": "sleep.updated",
                       "trace_id": trace}).encode()


async def test_verified_delivery_stamps_its_connection_only(specs, store):
    await connect(store, "whoop", "app-user-1", "10129")
    await connect(store, "whoop", "app-user-2", "20000")
    before = time.time()
    async with client(make_app(specs, store)) as http:
        refused = whoop_delivery("t0", 10129)
        answer = await http.post("/v1/webhooks/whoop", content=refused,
                                 headers=whoop_headers("not-the-secret", refused, int(time.time() * 1000)))
        assert answer.status_code == 401
        assert (await store.get_connection("whoop", "app-user-1")).last_webhook_at is None

        for trace, user in (("t1", 10129), ("t2", 99999)):
            body = whoop_delivery(trace, user)
            answer = await http.post("/v1/webhooks/whoop", content=body,
                                     headers=whoop_headers(WHOOP_SECRET, body, int(time.time() * 1000)))
            assert answer.status_code == 200
    stamped = (await store.get_connection("whoop", "app-user-1")).last_webhook_at
    assert stamped is not None and before <= stamped <= time.time()
    assert (await store.get_connection("whoop", "app-user-2")).last_webhook_at is None
