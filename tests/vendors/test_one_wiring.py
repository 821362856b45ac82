"""Every way of starting the engine wires it the same: an application embedding `Engine`, the
ASGI app (`engine serve`, `uvicorn engine.app:app`) and `engine worker` all open one `Engine`, and
opening it is what makes a new connection queue its initial sync."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from engine.api.app import create_app
from engine.engine import Engine, Settings
from engine.jobs import JobKind
from tests.vendors.harness import connect_user, engine_app, engine_env

pytestmark = pytest.mark.anyio


async def _initial_syncs(engine: Engine) -> list[str]:
    return [job.user_id for job in await engine.store.list_jobs() if job.kind == JobKind.INITIAL_SYNC]


async def test_an_embedded_engine_queues_the_initial_sync_of_a_new_connection(sim, clock, tmp_path):
    # engine_app opens a plain Engine and talks to the app without its lifespan: nothing but
    # Engine.open() can have installed the hook.
    async with engine_app(sim, engine_env(sim, tmp_path, "whoop"), clock) as (engine, client):
        await connect_user(client, sim, "whoop", "u1")
        assert await _initial_syncs(engine) == ["u1"]


async def test_the_initial_sync_can_be_switched_off(sim, clock, tmp_path):
    env = {**engine_env(sim, tmp_path, "whoop"), "ENGINE_INITIAL_SYNC": "0"}
    async with engine_app(sim, env, clock) as (engine, client):
        await connect_user(client, sim, "whoop", "u1")
        assert await _initial_syncs(engine) == []


def test_the_asgi_app_adds_no_wiring_of_its_own(sim, tmp_path):
    env = {**engine_env(sim, tmp_path, "whoop"), "ENGINE_NO_WORKER": "1"}
    embedded, served = Engine(Settings.from_env(env)), Engine(Settings.from_env(env))

    async def hooks_of_an_opened_engine() -> int:
        async with embedded:
            return len(embedded.oauth._on_connected)

    import anyio
    expected = anyio.run(hooks_of_an_opened_engine)
    with TestClient(create_app(served)):  # runs the app's lifespan, as every ASGI server does
        assert len(served.oauth._on_connected) == expected
        assert served.handlers.kinds() == embedded.handlers.kinds()
        assert set(served.handlers.kinds()) == {kind.value for kind in JobKind}


async def test_an_opened_engine_redacts_its_secrets_without_the_web_app(sim, clock, tmp_path):
    from engine.logs import redact_text

    env = engine_env(sim, tmp_path, "strava")  # a worker or an embedding app opens just this
    token = env["STRAVA_WEBHOOK_VERIFY_TOKEN"]
    async with Engine(Settings.from_env(env), clock=clock):
        line = redact_text(f"GET /v1/webhooks/strava?hub.verify_token={token}&x=1 secret {token}")
    assert token not in line and env["STRAVA_CLIENT_SECRET"] not in redact_text(env["STRAVA_CLIENT_SECRET"])
