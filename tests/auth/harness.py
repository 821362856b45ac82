"""Shared set-up for the OAuth and API tests: a simulator and an engine on a shared clock, the
real ASGI app, and a helper that walks a user through the vendor's consent screen."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from engine.api.app import create_app
from engine.engine import Engine, Settings
from sandbox.app import Simulator
from sandbox.profiles import PROFILES
from sandbox.server import RunningSim, serve_in_thread
from sandbox.state import SimState

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {"whoop": ROOT / "vendors" / "whoop.yaml", "oura": ROOT / "vendors" / "oura.yaml"}
TEST_SPEC = ROOT / "tests" / "specs" / "envelope_basic_pkce.yaml"
ENVELOPE = "envelope_basic_pkce"
API_KEY = "test-api-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
PUBLIC_URL = "http://127.0.0.1:8000"
APP_ORIGIN = "https://app.example.com"
SECRET_KEY = "engine-test-secret-key-0123456789abcdef"


class Clock:
    """Wall time plus an offset the test moves; shared by the engine and the simulator."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@contextlib.contextmanager
def running_sim(clock: Clock, **profile_changes: dict) -> Iterator[RunningSim]:
    """`profile_changes`, e.g. `whoop={"rotation": "none"}`, vary a vendor's behaviour."""
    state = SimState(["whoop", "oura", "withings"], clock=clock)
    # The Withings-like envelope dialect, with HTTP Basic client auth and PKCE enforced.
    state.profiles["withings"] = replace(PROFILES["withings"], client_auth="basic", pkce="required")
    # Callback URLs point at an engine address no test serves; subscriptions skip the HEAD check.
    state.verify_callbacks = False
    for name, changes in profile_changes.items():
        state.profiles[name] = replace(state.profiles[name], **changes)
    with serve_in_thread(Simulator(state)) as running:
        yield running


def engine_env(sim: RunningSim, tmp_path: Path, **extra: str) -> dict[str, str]:
    vendors = tmp_path / "vendors"
    vendors.mkdir(exist_ok=True)
    for name, path in SHIPPED.items():
        (vendors / f"{name}.yaml").write_bytes(path.read_bytes())
    (vendors / f"{ENVELOPE}.yaml").write_bytes(TEST_SPEC.read_bytes())
    env = {
        **sim.env(),
        "OURA_AUTHORIZE_BASE": sim.url("oura"),
        "ENGINE_VENDORS_DIR": str(vendors),
        "ENGINE_ALLOW_RETIRED": "fitbit",  # the simulator still serves the retired Fitbit API
        "ENGINE_DATA_DIR": str(tmp_path / "data"),
        "ENGINE_API_KEY": API_KEY,
        "ENGINE_PUBLIC_URL": PUBLIC_URL,
        "ENGINE_RETURN_TO_ALLOWLIST": f"{APP_ORIGIN},http://localhost:3000",
        "ENGINE_SECRET_KEY": SECRET_KEY,
    }
    env.update(extra)
    return env


VENDORS = ["whoop", "oura", ENVELOPE]


@contextlib.asynccontextmanager
async def engine_client(env: dict[str, str], clock: Clock) -> AsyncIterator[tuple[Engine, httpx2.AsyncClient]]:
    engine = Engine(Settings.from_env(env), clock=clock)
    async with engine:
        app = create_app(engine)
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            yield engine, client


async def start(client: httpx2.AsyncClient, vendor: str, user: str, body: dict | None = None) -> str:
    response = await client.post(f"/v1/users/{user}/connections/{vendor}", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()["authorization_url"]


async def consent(authorization_url: str) -> str:
    """The user approves at the vendor: returns the callback URL the vendor redirects to."""
    async with httpx2.AsyncClient() as browser:
        response = await browser.get(authorization_url)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def connect(client: httpx2.AsyncClient, vendor: str, user: str, body: dict | None = None) -> httpx2.Response:
    callback = await consent(await start(client, vendor, user, body))
    return await client.get(callback)


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Iterator[RunningSim]:
    with running_sim(clock) as running:
        yield running


@pytest.fixture
def env(sim: RunningSim, tmp_path: Path) -> dict[str, str]:
    return engine_env(sim, tmp_path)


@pytest.fixture
async def engine_and_client(env: dict[str, str], clock: Clock) -> AsyncIterator[tuple[Engine, httpx2.AsyncClient]]:
    async with engine_client(env, clock) as pair:
        yield pair
