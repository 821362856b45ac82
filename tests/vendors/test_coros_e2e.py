"""COROS: connect (camelCase token answer naming the openId), the initial sync reads workouts with
the token and openId as query parameters, a pushed workout authenticated by the `secret` header
is stored and answered with COROS's own success document; a wrong secret is refused and a token
refresh goes to the refresh URL."""

from __future__ import annotations

import pytest

from sandbox.webhooks import notification_for
from tests.vendors.harness import (
    connect_user,
    connected_record,
    drain,
    engine_app,
    engine_env,
    no_initial_sync,
    samples,
)

pytestmark = pytest.mark.anyio


async def test_coros_initial_sync_with_query_token(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "coros"), clock) as (engine, client):
        await connect_user(client, sim, "coros", "u1")
        user = sim.state.default_user("coros")
        (connection,) = await engine.store.list_connections(user_id="u1")
        assert connection.vendor_user_id == user.vendor_id
        assert await drain(engine) >= 1
        calls = sim.state.calls_to("coros", "/coros/open/sport/data")
        assert calls and all(c.query["openId"] == user.vendor_id and c.status == 200 for c in calls)
        assert all("authorization" not in c.headers for c in calls)
        stored = await samples(client, "u1", type="workout")
        assert {s["provenance"]["vendor_record_id"] for s in stored} == {
            r["labelId"] for r in sim.state.records("coros", "sport", user.key)}


async def test_coros_push_is_acknowledged_with_its_success_document(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "coros"), clock) as (engine, client):
        user, record = await connected_record(engine, client, sim, "coros", "sport")
        forged = notification_for(sim.state, "coros", "sport", user.key, record, "create", coros_secret="nope")
        assert (await forged.send(client, "/v1/webhooks/coros")).status_code == 401
        delivery = notification_for(sim.state, "coros", "sport", user.key, record, "create")
        answer = await delivery.send(client, "/v1/webhooks/coros")
        assert answer.status_code == 200 and answer.json() == {"result": "0000", "message": "OK"}
        again = await delivery.send(client, "/v1/webhooks/coros")  # COROS repeats deliveries
        assert again.json() == {"result": "0000", "message": "OK"}
        assert await drain(engine) >= 1
        (stored,) = await samples(client, "u1", type="workout")
        assert stored["provenance"]["vendor_record_id"] == record.id
        assert stored["distance_m"] == record.data["distance"]
        assert stored["duration_s"] == record.data["endTime"] - record.data["startTime"]


async def test_coros_refresh_goes_to_the_refresh_url(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "coros"), clock) as (engine, client):
        no_initial_sync(engine, "coros")
        await connect_user(client, sim, "coros", "u1")
        before = sim.state.token_calls("coros")
        await engine.oauth.fresh_connection("coros", "u1", force=True)
        assert sim.state.token_calls("coros") == before + 1
        (refresh,) = [c for c in sim.state.calls_to("coros", "/oauth2/") if c.path == "/oauth2/refresh"]
        assert refresh.status == 200 and b"grant_type=refresh_token" in refresh.body
