"""Dexcom sends no webhooks: connect, the initial sync polls the glucose readings into samples."""

from __future__ import annotations

import pytest

from tests.vendors.harness import connect_user, drain, engine_app, engine_env, samples

pytestmark = pytest.mark.anyio


async def test_dexcom_connect_then_initial_sync_to_glucose(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "dexcom"), clock) as (engine, client):
        await connect_user(client, sim, "dexcom", "u1")
        assert await drain(engine) >= 2
        stored = await samples(client, "u1", type="glucose")
        assert stored and all(s["source"] == "dexcom" for s in stored)
        assert all(40 <= s["mg_dl"] <= 400 for s in stored if "mg_dl" in s)
