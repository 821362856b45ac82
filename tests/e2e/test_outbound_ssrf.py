"""Without ENGINE_OUTBOUND_ALLOW_PRIVATE the engine never sends to an inside address: an endpoint
whose name now resolves to loopback (it was public when registered) is refused when the connection
is made, and that is reported: the delivery's last error, then delivery.failed at the horizon."""

from __future__ import annotations

import logging

import pytest

from tests.auth.harness import AUTH
from tests.e2e.helpers import engine_app
from tests.e2e.receiver import running_receiver

pytestmark = pytest.mark.anyio


async def test_a_loopback_endpoint_is_refused_at_connect_time_and_reported(env, clock, caplog):
    assert "ENGINE_OUTBOUND_ALLOW_PRIVATE" not in env
    with running_receiver() as receiver:
        async with engine_app({**env, "ENGINE_OUTBOUND_RETRY_HORIZON_S": "60"}, clock) as (engine, client):
            refused = await client.post("/v1/endpoints", json={"url": receiver.url.replace("http:", "https:")},
                                        headers=AUTH)
            assert refused.status_code == 400 and refused.json()["error"]["field"] == "url"
            # registered as if its name had resolved to a public address then
            endpoint = await engine.store.create_endpoint(receiver.url, secret="whsec_" + "A" * 32)
            other = await engine.store.create_endpoint("https://hooks.example.com/in", secret="whsec_" + "B" * 32,
                                                       event_types=["delivery.failed"])
            await engine.store.update_endpoint(other.id, status="paused")  # tests talk only to loopback
            event_id = await engine.store.add_outbox_event(
                "connection.created", {"user_id": "user-1", "vendor": "whoop"}, user_id="user-1")
            deliverer = engine.outbound.deliverer
            await deliverer.drain()
            [delivery] = await engine.store.list_deliveries(endpoint_id=endpoint.id)
            assert delivery.state == "pending" and delivery.attempts == 1 and delivery.last_status is None
            assert "non-public address (127.0.0.1)" in (delivery.last_error or "")
            listed = (await client.get(f"/v1/endpoints/{endpoint.id}/deliveries", headers=AUTH)).json()
            assert "non-public address" in listed["deliveries"][0]["last_error"]

            clock.advance(61)  # past the retry horizon: given up, and said so
            with caplog.at_level(logging.ERROR, logger="engine.outbound"):
                await deliverer.drain()
            [delivery] = await engine.store.list_deliveries(endpoint_id=endpoint.id)
            assert delivery.state == "failed" and delivery.attempts == 2
            assert any("given up" in r.getMessage() and endpoint.id in r.getMessage() for r in caplog.records)
            feed = (await client.get("/v1/changes", headers=AUTH, params={"limit": 100})).json()["data"]
            [failed] = [d for d in feed if d["type"] == "delivery.failed"]
            assert failed["data"]["endpoint_id"] == endpoint.id and failed["data"]["event_id"] == event_id
            assert failed["data"]["reason"] == "retry_horizon" and "non-public address" in failed["data"]["last_error"]
            # the other endpoint is told (it subscribes to delivery.failed), the failing one is not
            assert [d.event_id for d in await engine.store.list_deliveries(endpoint_id=other.id)] == [failed["id"]]
        assert receiver.received == []
