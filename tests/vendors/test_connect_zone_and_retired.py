"""Connect-time data truth through the real ASGI app: the app's `?tz=` kept as the connection's
zone, a bad zone refused in the one error shape, a retired vendor refused with 410."""

from __future__ import annotations

import pytest

from tests.vendors.harness import AUTH, engine_app, engine_env

pytestmark = pytest.mark.anyio


async def test_the_apps_zone_is_kept_and_a_bad_one_refused(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "polar"), clock) as (engine, client):
        answer = await client.post("/v1/users/u1/connections/polar?tz=Europe/Helsinki", headers=AUTH)
        assert answer.status_code == 201, answer.text
        assert [row[1:] for row in await engine.store.zone_history("polar", "u1")] == [
            ("Europe/Helsinki", "app")]
        bad = await client.post("/v1/users/u2/connections/polar", json={"tz": "Mars/Olympus"}, headers=AUTH)
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_time_zone"
        assert await engine.store.zone_history("polar", "u2") == []


async def test_a_retired_vendor_is_not_offered_for_new_connections(sim, clock, tmp_path):
    env = {k: v for k, v in engine_env(sim, tmp_path, "fitbit").items() if k != "ENGINE_ALLOW_RETIRED"}
    async with engine_app(sim, env, clock) as (_engine, client):
        answer = await client.post("/v1/users/u1/connections/fitbit", headers=AUTH)
        assert answer.status_code == 410
        error = answer.json()["error"]
        assert error["code"] == "vendor_retired" and "google_health" in error["message"]
