"""End-to-end set-up per shipped vendor spec: a simulator with every profile, the engine pointed at
it through the specs' `${..._BASE}` variables (specs unmodified), the real ASGI app, and the
simulator's handshakes routed into that app."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2

from engine.api.app import create_app
from engine.engine import Engine, Settings
from engine.worker.runner import WorkerConfig
from sandbox.app import Simulator
from sandbox.server import RunningSim, serve_in_thread
from sandbox.state import Record, SimState, SimUser
from tests.auth.harness import API_KEY, PUBLIC_URL, SECRET_KEY, Clock, connect

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {API_KEY}"}
VERIFY_TOKENS = {
    "OURA_WEBHOOK_VERIFICATION_TOKEN": "oura-verification-token",
    "STRAVA_WEBHOOK_VERIFY_TOKEN": "strava-verify-token",
    "FITBIT_SUBSCRIBER_VERIFY_CODE": "fitbit-verify-code",
    "GOOGLE_HEALTH_WEBHOOK_SECRET": "sim-endpoint-secret",
    "GOOGLE_HEALTH_PROJECT": "sim-project",
    "GOOGLE_HEALTH_PROJECT_TOKEN": "sim-project-token",
    "GOOGLE_HEALTH_SUBSCRIBER_ID": "sim-subscriber",
}


@contextlib.contextmanager
def running_sim(clock: Clock) -> Iterator[RunningSim]:
    with serve_in_thread(Simulator(SimState(None, clock=clock))) as running:
        yield running


def engine_env(sim: RunningSim, tmp_path: Path, vendor: str) -> dict[str, str]:
    vendors = tmp_path / "vendors"
    vendors.mkdir(exist_ok=True)
    shutil.copy(ROOT / "vendors" / f"{vendor}.yaml", vendors / f"{vendor}.yaml")
    sim_env = sim.env()
    return {
        **sim_env,
        "GOOGLE_OAUTH_AUTHORIZE_BASE": sim_env["GOOGLE_HEALTH_AUTHORIZE_BASE"],
        "GOOGLE_OAUTH_TOKEN_BASE": sim_env["GOOGLE_HEALTH_TOKEN_BASE"],
        **VERIFY_TOKENS,
        "ENGINE_VENDORS_DIR": str(vendors),
        "ENGINE_ALLOW_RETIRED": "fitbit",  # the simulator still serves the retired Fitbit API
        "ENGINE_DATA_DIR": str(tmp_path / "data"),
        "ENGINE_API_KEY": API_KEY,
        "ENGINE_PUBLIC_URL": PUBLIC_URL,
        "ENGINE_SECRET_KEY": SECRET_KEY,
    }


@contextlib.asynccontextmanager
async def engine_app(sim: RunningSim, env: dict[str, str], clock: Clock
                     ) -> AsyncIterator[tuple[Engine, httpx2.AsyncClient]]:
    engine = Engine(Settings.from_env(env), clock=clock)
    async with engine:
        app = create_app(engine)
        transport = httpx2.ASGITransport(app=app)
        sim.state.outbound_transport = transport  # vendor handshakes reach the engine app
        async with httpx2.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            yield engine, client


async def drain(engine: Engine, *, limit: int = 2000) -> int:
    worker = engine.worker(WorkerConfig(lease_s=30, backoff_base_s=0.01, backoff_cap_s=0.05))
    ran = 0
    while ran < limit and await worker.run_once():
        ran += 1
    return ran


async def samples(client: httpx2.AsyncClient, user: str, **params: str) -> list[dict]:
    response = await client.get(f"/v1/users/{user}/samples", params={"limit": 1000, **params}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()["samples"]


async def connect_user(client: httpx2.AsyncClient, sim: RunningSim, vendor: str, user: str) -> None:
    sim.state.next_authorize(vendor, user=sim.state.default_user(vendor).key)
    response = await connect(client, vendor, user)
    assert response.status_code in (200, 302), response.text


def no_initial_sync(engine: Engine, vendor: str) -> None:
    object.__setattr__(engine.specs[vendor], "initial_sync_days", 0)


async def connected_record(engine: Engine, client: httpx2.AsyncClient, sim: RunningSim, vendor: str,
                           resource: str, *, user: str = "u1") -> tuple[SimUser, Record]:
    """Connect without the initial sync, run what connecting queued, and return the vendor's user
    and the first record of `resource` it holds (for a notification about it)."""
    no_initial_sync(engine, vendor)
    await connect_user(client, sim, vendor, user)
    await drain(engine)
    vendor_user = sim.state.default_user(vendor)
    return vendor_user, sim.state.raw_records(vendor, resource, vendor_user.key)[0]


async def notified_samples(engine: Engine, client: httpx2.AsyncClient, sim: RunningSim, vendor: str,
                           resource: str, *, user: str = "u1", operation: str = "update",
                           **options: object) -> list[dict]:
    """Connect, let the vendor notify about one record of `resource`, run the jobs, read samples."""
    from sandbox.webhooks import notification_for

    vendor_user, record = await connected_record(engine, client, sim, vendor, resource, user=user)
    delivery = notification_for(sim.state, vendor, resource, vendor_user.key, record, operation, **options)
    answer = await delivery.send(client, f"/v1/webhooks/{vendor}")
    assert answer.status_code < 300, answer.text
    assert await drain(engine) >= 1
    return await samples(client, user)
