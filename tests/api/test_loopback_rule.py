"""Without ENGINE_API_KEY the app itself serves `/v1` to loopback clients only, under any ASGI
server: a remote client, or any client whose request came through a proxy (Forwarded,
X-Forwarded-For, X-Real-IP), is refused. The OAuth callback, webhooks and probes stay open."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from starlette.testclient import TestClient

from engine.api.app import create_app
from engine.api.security import is_loopback_client
from engine.engine import Engine, Settings
from sandbox.server import free_port
from tests.api.test_log_redaction import stop, wait_until_up
from tests.auth.harness import ROOT

pytestmark = pytest.mark.anyio

API_KEY = "loopback-rule-api-key-0123456789"
OURA_TOKEN = "loopback-rule-oura-verification-token"
REMOTE = ("10.0.0.5", 1234)
LOOPBACK = ("127.0.0.1", 50000)
FORWARDING = [{"X-Forwarded-For": "127.0.0.1"}, {"X-Forwarded-For": "10.0.0.5"},
              {"Forwarded": "for=10.0.0.5;proto=https"}, {"X-Real-IP": "10.0.0.5"}]
OURA_HANDSHAKE = f"/v1/webhooks/oura?verification_token={OURA_TOKEN}&challenge=ping"


def engine_env(tmp_path: Path, *, api_key: str | None) -> dict[str, str]:
    vendors = tmp_path / "vendors"
    vendors.mkdir(parents=True, exist_ok=True)
    (vendors / "oura.yaml").write_bytes((ROOT / "vendors" / "oura.yaml").read_bytes())
    env = {
        "ENGINE_VENDORS_DIR": str(vendors),
        "ENGINE_DATA_DIR": str(tmp_path / "data"),
        "ENGINE_SECRET_KEY": "loopback-rule-test-secret-key-0123456789",
        "ENGINE_NO_WORKER": "1",
        "OURA_CLIENT_ID": "oura-client",
        "OURA_CLIENT_SECRET": "oura-client-secret-value",
        "OURA_WEBHOOK_VERIFICATION_TOKEN": OURA_TOKEN,
    }
    if api_key:
        env["ENGINE_API_KEY"] = api_key
    return env


@pytest.fixture
async def keyless(tmp_path) -> AsyncIterator[Engine]:
    async with Engine(Settings.from_env(engine_env(tmp_path, api_key=None))) as engine:
        yield engine


@pytest.fixture
async def keyed(tmp_path) -> AsyncIterator[Engine]:
    async with Engine(Settings.from_env(engine_env(tmp_path, api_key=API_KEY))) as engine:
        yield engine


def client_from(engine: Engine, address: tuple[str, int]) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=create_app(engine), client=address)
    return httpx2.AsyncClient(transport=transport, base_url="http://engine.test")


def assert_refused(response: httpx2.Response) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"} and error["code"] == "loopback_only"
    assert "ENGINE_API_KEY" in error["message"]


async def test_a_remote_client_is_refused_without_an_api_key(keyless):
    async with client_from(keyless, REMOTE) as client:
        for path in ("/v1/vendors", "/v1/jobs", "/v1/users/u1/connections", "/no/such/path"):
            assert_refused(await client.get(path))
        assert_refused(await client.post("/v1/users/u1/connections/oura"))


async def test_a_loopback_client_is_served_without_an_api_key(keyless):
    for address in (LOOPBACK, ("::1", 50000), ("127.0.0.2", 1)):
        async with client_from(keyless, address) as client:
            response = await client.get("/v1/vendors")
            assert response.status_code == 200, (address, response.text)
            assert [v["id"] for v in response.json()["vendors"]] == ["oura"]


@pytest.mark.parametrize("headers", FORWARDING)
async def test_a_forwarded_request_from_loopback_counts_as_remote(keyless, headers):
    async with client_from(keyless, LOOPBACK) as client:
        assert_refused(await client.get("/v1/vendors", headers=headers))


@pytest.mark.parametrize("address", [REMOTE, LOOPBACK])
async def test_public_routes_stay_open_to_anyone(keyless, address):
    async with client_from(keyless, address) as client:
        headers = {"X-Forwarded-For": "203.0.113.9"}
        assert (await client.get("/healthz", headers=headers)).status_code == 200
        assert (await client.get("/readyz", headers=headers)).status_code == 200
        handshake = await client.get(OURA_HANDSHAKE, headers=headers)
        assert handshake.status_code == 200 and handshake.json() == {"challenge": "ping"}
        callback = await client.get("/v1/oauth/oura/callback?code=c&state=s", headers=headers)
        assert callback.status_code == 400 and callback.json()["error"]["code"] == "invalid_state"


async def test_with_an_api_key_everything_works_as_before(keyed):
    auth = {"Authorization": f"Bearer {API_KEY}"}
    for address in (REMOTE, LOOPBACK):
        async with client_from(keyed, address) as client:
            assert (await client.get("/v1/vendors", headers=auth)).status_code == 200
            forwarded = await client.get("/v1/vendors", headers={**auth, "X-Forwarded-For": "10.0.0.9"})
            assert forwarded.status_code == 200  # a proxy in front is fine once there is a key
            missing = await client.get("/v1/vendors")
            assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
            wrong = await client.get("/v1/vendors", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401


def test_starlette_test_client_default_address_is_not_loopback(tmp_path):
    """TestClient says its client is ("testclient", 50000): a name, not a loopback address."""
    settings = Settings.from_env(engine_env(tmp_path, api_key=None))
    with TestClient(create_app(Engine(settings))) as http:
        assert http.get("/v1/vendors").status_code == 403
        assert http.get("/healthz").status_code == 200
    with TestClient(create_app(Engine(settings)), client=LOOPBACK) as http:
        assert http.get("/v1/vendors").status_code == 200


def test_the_rule_is_logged_at_start(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="engine.api")
    for api_key, expected in ((None, "loopback clients only"), (API_KEY, "requires Authorization")):
        caplog.clear()
        settings = Settings.from_env(engine_env(tmp_path / (api_key or "none"), api_key=api_key))
        with TestClient(create_app(Engine(settings)), client=LOOPBACK):
            pass
        assert [r for r in caplog.records if expected in r.getMessage()], caplog.text


def test_loopback_addresses():
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "::ffff:127.0.0.1"):
        assert is_loopback_client(host), host
    for host in ("10.0.0.5", "0.0.0.0", "::", "testclient", "localhost", "", None, "::ffff:10.0.0.5"):
        assert not is_loopback_client(host), host


@pytest.mark.parametrize("command", ["uvicorn engine.app:app", "engine serve"])
def test_a_real_server_on_loopback_refuses_forwarded_requests(tmp_path, command):
    """A reverse proxy on the same host must not open the API: the connection comes from
    127.0.0.1, the proxy's header says it is not the client's own."""
    port = free_port()
    env = {**os.environ, **engine_env(tmp_path, api_key=None), "PYTHONPATH": str(ROOT)}
    env.pop("ENGINE_API_KEY", None)
    if command == "engine serve":
        argv = [sys.executable, "-m", "engine.cli", "serve", "--port", str(port), "--no-worker",
                "--log-format", "json"]
    else:  # uvicorn's defaults: proxy headers trusted from 127.0.0.1, its own log config
        argv = [sys.executable, "-m", "uvicorn", "engine.app:app", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, f"{base}/healthz")
        assert httpx2.get(f"{base}/v1/vendors").status_code == 200
        for headers in FORWARDING:
            assert_refused(httpx2.get(f"{base}/v1/vendors", headers=headers))
        assert httpx2.get(base + OURA_HANDSHAKE, headers=FORWARDING[0]).status_code == 200
    finally:
        logs = stop(proc)
    assert "loopback clients only" in logs
