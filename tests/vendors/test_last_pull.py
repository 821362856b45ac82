"""A connection's last successful pull is stamped by backfill windows too, not only by polls."""

from __future__ import annotations

import pytest

from tests.vendors.harness import connect_user, drain, engine_app, engine_env

pytestmark = pytest.mark.anyio


async def test_a_backfill_window_stamps_the_last_pull(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "whoop"), clock) as (engine, client):
        await connect_user(client, sim, "whoop", "u1")
        assert (await engine.store.get_connection("whoop", "u1")).last_pull_at is None
        assert await drain(engine) > 1  # the initial sync and its windows
        assert (await engine.store.get_connection("whoop", "u1")).last_pull_at == pytest.approx(clock())
