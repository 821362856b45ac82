"""Polar: app webhook created through the subscription command path (PING answered), its one-time
signature_secret_key stored encrypted and used to verify a signed EXERCISE event that is fetched
into samples."""

from __future__ import annotations

import pytest

from engine.subscriptions import AppSubscriptionManager
from sandbox.webhooks import notification_for
from tests.vendors.harness import (
    connect_user,
    drain,
    engine_app,
    engine_env,
    no_initial_sync,
    samples,
)

pytestmark = pytest.mark.anyio


async def test_polar_webhook_secret_and_exercise_event(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "polar"), clock) as (engine, client):
        no_initial_sync(engine, "polar")
        report = await AppSubscriptionManager(engine).create("polar")
        assert report.secrets_stored == ("signature_secret_key",)
        hook = sim.state.subscriptions["polar"][0]
        assert await engine.store.get_app_secrets("polar") == {"signature_secret_key": hook["signature_secret_key"]}
        assert [s.subscription_id for s in await engine.store.list_app_subscriptions("polar")] == [hook["id"]]

        await connect_user(client, sim, "polar", "u1")
        user = sim.state.default_user("polar")
        record = sim.state.raw_records("polar", "exercises", user.key)[0]
        delivery = notification_for(sim.state, "polar", "exercises", user.key, record, "create")
        answer = await delivery.send(client, "/v1/webhooks/polar")
        assert answer.status_code == 200, answer.text
        forged = notification_for(sim.state, "polar", "exercises", user.key, record, "create", polar_key="wrong")
        assert (await forged.send(client, "/v1/webhooks/polar")).status_code == 401
        assert await drain(engine) >= 1
        stored = await samples(client, "u1")
        assert {s["sample_type"] for s in stored} >= {"workout"}
        assert all(s["source"] == "polar" for s in stored)
