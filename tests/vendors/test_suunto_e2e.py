"""Suunto: the vendor user is read from the access token's JWT claims (no identity endpoint);
every API call carries the APIM subscription key from the environment; hex HMAC-SHA256 webhooks:
a 24/7 sleep delivery is stored from its inline samples, a workout delivery is re-read by its
workoutKey; a forged signature is refused."""

from __future__ import annotations

import pytest

from sandbox.state import PORTAL_SECRETS
from sandbox.webhooks import notification_for
from tests.vendors.harness import (
    connect_user,
    connected_record,
    drain,
    engine_app,
    engine_env,
    samples,
)

pytestmark = pytest.mark.anyio


async def test_suunto_jwt_identity_and_subscription_key_on_every_call(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "suunto"), clock) as (engine, client):
        await connect_user(client, sim, "suunto", "u1")
        user = sim.state.default_user("suunto")
        (connection,) = await engine.store.list_connections(user_id="u1")
        assert connection.vendor_user_id == user.vendor_id  # the JWT's `user` claim
        assert await drain(engine) >= 3
        api_calls = [c for c in sim.state.calls_to("suunto") if not c.path.startswith("/oauth/")]
        assert api_calls and all(c.status == 200 for c in api_calls)
        assert all(c.headers.get("ocp-apim-subscription-key") == PORTAL_SECRETS["SUUNTO_SUBSCRIPTION_KEY"]
                   for c in api_calls)
        (token_call,) = sim.state.calls_to("suunto", "/oauth/token")
        assert "ocp-apim-subscription-key" not in token_call.headers
        assert token_call.headers["authorization"].startswith("Basic ")
        for kind in ("workout", "sleep_session", "vendor_score"):
            assert await samples(client, "u1", type=kind), kind


async def test_suunto_signed_deliveries_inline_sleep_and_workout_by_key(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "suunto"), clock) as (engine, client):
        user, night = await connected_record(engine, client, sim, "suunto", "sleep")
        forged = notification_for(sim.state, "suunto", "sleep", user.key, night, "create", suunto_secret="x")
        assert (await forged.send(client, "/v1/webhooks/suunto")).status_code == 401
        delivery = notification_for(sim.state, "suunto", "sleep", user.key, night, "create")
        assert (await delivery.send(client, "/v1/webhooks/suunto")).status_code == 200
        workout = sim.state.raw_records("suunto", "workouts", user.key)[0]
        created = notification_for(sim.state, "suunto", "workouts", user.key, workout, "create")
        assert (await created.send(client, "/v1/webhooks/suunto")).status_code == 200
        assert await drain(engine) >= 2
        (sleep,) = await samples(client, "u1", type="sleep_session")
        assert sleep["deep_s"] == night.data["entryData"]["DeepSleepDuration"]
        assert not sim.state.calls_to("suunto", "/247samples/sleep")  # stored from the signed body
        (stored,) = await samples(client, "u1", type="workout")
        assert stored["provenance"]["vendor_record_id"] == workout.id
        assert [c.status for c in sim.state.calls_to("suunto", f"/v3/workouts/{workout.id}")] == [200]
