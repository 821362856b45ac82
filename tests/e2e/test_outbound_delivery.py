"""Simulator vendor → signed webhook → fetch → samples → the customer's receiver: a real HTTP
server verifying every delivery with the `standardwebhooks` package. Outages (503s, then a 429
with Retry-After) delay deliveries without reordering them; a backfill's events say so and end with
one sync.completed per resource; the changes feed lists the same documents."""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.engine import Engine
from tests.auth.harness import AUTH, connect
from tests.e2e.helpers import drain, engine_app, send_whoop_webhook
from tests.e2e.receiver import Answer, Receiver, running_receiver

pytestmark = pytest.mark.anyio

FAST_RETRIES = {"ENGINE_OUTBOUND_ALLOW_PRIVATE": "1", "ENGINE_OUTBOUND_BACKOFF_BASE_S": "0.01",
                "ENGINE_OUTBOUND_BACKOFF_CAP_S": "0.2"}  # a Retry-After counts up to 2 s


@pytest.fixture
def receiver():
    with running_receiver() as running:
        yield running


async def register(client, receiver: Receiver, **fields) -> dict:
    response = await client.post("/v1/endpoints", json={"url": receiver.url, **fields}, headers=AUTH)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["warnings"] == []
    receiver.secret = body["secret"]
    return body


async def deliver_all(engine: Engine, receiver: Receiver, count: int, timeout_s: float = 20.0) -> None:
    """Run delivery rounds until the receiver has accepted `count` deliveries."""
    deliverer = engine.outbound.deliverer
    deadline = time.monotonic() + timeout_s
    while len(receiver.delivered()) < count:
        assert time.monotonic() < deadline, f"{len(receiver.delivered())} of {count} delivered"
        await deliverer.drain()
        await asyncio.sleep(0.02)


async def test_a_vendor_webhook_reaches_the_customer_signed_and_in_order(env, sim, clock, receiver):
    async with engine_app({**env, **FAST_RETRIES, "ENGINE_INITIAL_SYNC": "0"}, clock) as (engine, client):
        await register(client, receiver, event_types=["samples.changed", "connection.created"])
        assert (await connect(client, "whoop", "user-1")).status_code == 200
        vendor_user = sim.state.default_user("whoop")
        sleeps = [s for s in sim.state.records("whoop", "sleep", vendor_user.key) if not s["nap"]][:3]
        secret = sim.state.client("whoop").client_secret
        event = {"user_id": vendor_user.vendor_id, "id": sleeps[0]["id"], "type": "sleep.updated",
                 "trace_id": "trace-1"}
        assert (await send_whoop_webhook(client, secret, event, int(clock() * 1000))).status_code < 300
        assert await drain(engine) == 1
        first_feed = (await client.get("/v1/changes", headers=AUTH)).json()["data"]
        await deliver_all(engine, receiver, len(first_feed))

        connected, *changed = receiver.delivered()
        assert all(r.verified for r in receiver.received)
        assert connected.body["type"] == "connection.created" and connected.body["data"]["user_id"] == "user-1"
        assert changed and {r.body["type"] for r in changed} == {"samples.changed"}
        assert {r.body["origin"] for r in changed} == {"live"}
        assert all(r.webhook_id == r.body["id"] for r in receiver.received)
        stored = (await client.get("/v1/users/user-1/samples", headers=AUTH, params={"limit": 1000})).json()["samples"]
        assert sum(r.body["data"]["created"] for r in changed) == len(stored)
        for delivery in changed:
            data = delivery.body["data"]
            assert data["user_id"] == "user-1" and data["source"] == "whoop"
            inline = [entry["sample"] for entry in data["samples"]]
            # rendered by the read API's own function: the very documents, provenance and all
            assert inline == [s for s in stored if s["sample_type"] == data["sample_type"]]
            assert all(s["provenance"]["channel"] == "webhook" for s in inline)
        session = next(r.body["data"]["samples"][0]["sample"] for r in changed
                       if r.body["data"]["sample_type"] == "sleep_session")
        assert session["rem_s"] == sleeps[0]["score"]["stage_summary"]["total_rem_sleep_time_milli"] / 1000

        # the receiver goes down: two 503s, then a 429 with Retry-After, then it is back
        receiver.script = [Answer(503), Answer(503), Answer(429, {"Retry-After": "1"})]
        for index, sleep in enumerate(sleeps[1:], start=2):
            event = {**event, "id": sleep["id"], "trace_id": f"trace-{index}"}
            assert (await send_whoop_webhook(client, secret, event, int(clock() * 1000))).status_code < 300
        assert await drain(engine) == 2
        before = len(receiver.delivered())
        started = time.monotonic()
        feed = (await client.get("/v1/changes", headers=AUTH, params={"cursor": "0",
                                                                      "limit": 1000})).json()["data"]
        expected = [doc["id"] for doc in feed[len(first_feed):]]
        await deliver_all(engine, receiver, before + len(expected))
        assert time.monotonic() - started >= 1.0  # the Retry-After was honoured
        failed = [r for r in receiver.received if r.status >= 300]
        assert [r.status for r in failed] == [503, 503, 429]
        assert len({r.webhook_id for r in failed}) == 1  # the head retried; nothing went past it
        assert failed[0].webhook_id == expected[0]
        assert [r.webhook_id for r in receiver.delivered()[before:]] == expected
        # the feed carries the very documents the webhooks did
        assert feed[:len(first_feed)] == [r.body for r in [connected, *changed]]


async def test_a_backfill_is_marked_and_ends_with_one_completed_per_resource(env, sim, clock, receiver):
    async with engine_app({**env, **FAST_RETRIES}, clock) as (engine, client):
        await register(client, receiver)
        assert (await connect(client, "whoop", "user-1")).status_code == 200
        await drain(engine)
        await engine.outbound.deliverer.drain()
        feed = (await client.get("/v1/changes", headers=AUTH, params={"limit": 1000})).json()["data"]
        await deliver_all(engine, receiver, len(feed))
        documents = [r.body for r in receiver.delivered()]
        assert [d["id"] for d in documents] == [d["id"] for d in feed]
        spec = engine.spec("whoop")
        listed = sorted(name for name, resource in spec.resources.items() if resource.list is not None)
        completed = [d for d in documents if d["type"] == "sync.completed"]
        assert sorted(d["data"]["resource"] for d in completed) == listed
        assert {d["origin"] for d in documents if d["type"].startswith("sync.")} == {"backfill"}
        changes = [d for d in documents if d["type"] == "samples.changed"]
        assert changes and {d["origin"] for d in changes} == {"backfill"}
        # each resource's completion comes after every progress report of it, the last one after
        # every change the backfill wrote
        for done in completed:
            resource = done["data"]["resource"]
            progress = [i for i, d in enumerate(documents)
                        if d["type"] == "sync.progress" and d["data"]["resource"] == resource]
            assert documents.index(done) > max(progress)
        assert documents.index(completed[-1]) > max(documents.index(d) for d in changes)


async def test_bad_endpoints_are_refused_naming_the_field(env, clock):
    async with engine_app(env, clock) as (_, client):
        for body, field in (({"url": "http://example.com/hook"}, "url"),
                            ({"url": "https://example.com/hook", "event_types": ["samples.changd"]}, "event_types"),
                            ({"url": "not a url"}, "url"), ({"url": "https://127.0.0.1/hook"}, "url"),
                            ({"url": "https://[::1]:8443/hook"}, "url"),
                            ({"url": "https://example.com/hook", "colour": "red"}, "colour")):
            response = await client.post("/v1/endpoints", json=body, headers=AUTH)
            assert response.status_code == 400, (body, response.text)
            assert response.json()["error"]["field"] == field
        warned = await client.post("/v1/endpoints", json={"url": "https://unresolvable.invalid/hook"}, headers=AUTH)
        assert warned.status_code == 201 and "does not resolve" in warned.json()["warnings"][0]
        listed = (await client.get("/v1/endpoints", headers=AUTH)).json()["endpoints"]
        assert len(listed) == 1 and "secret" not in listed[0]
        assert (await client.get("/v1/changes", params={"cursor": "x"}, headers=AUTH)).status_code == 400
