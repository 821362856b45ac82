"""After full flows through a real server, no token, code verifier or client secret appears in
the database files or in any log record (debug level, access log included)."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx2
import pytest

from engine.api.app import create_app
from engine.engine import Engine, Settings
from sandbox.server import free_port, serve_app_in_thread
from tests.auth.harness import AUTH, VENDORS, consent, query_of

pytestmark = pytest.mark.anyio


def serve(app, port: int):
    return serve_app_in_thread(app, port=port, name="engine", log_config=None, log_level="debug",
                               access_log=True, lifespan="on")


def from_vendor_server(record: logging.LogRecord) -> bool:
    """The simulated vendor's own access log (it runs in this process too) is the vendor's, not ours:
    uvicorn decides per logger, not per server, whether to write access lines."""
    if record.name != "uvicorn.access" or not isinstance(record.args, tuple) or len(record.args) < 3:
        return False
    return not str(record.args[2]).startswith(("/v1/", "/healthz", "/readyz"))


def secrets_in(sim) -> set[str]:
    values = set(sim.state.access_tokens) | set(sim.state.refresh_tokens)
    values |= {client.client_secret for client in sim.state.clients.values()}
    return values


async def test_no_plaintext_secret_in_db_or_logs(env, sim, clock, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    env = {**env, "ENGINE_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    engine = Engine(Settings.from_env(env), clock=clock)
    with serve(create_app(engine), port) as base:
        async with httpx2.AsyncClient(base_url=base) as client:
            for index, vendor in enumerate(VENDORS):
                user = f"user-{index}"
                started = await client.post(f"/v1/users/{user}/connections/{vendor}", headers=AUTH)
                callback = await consent(started.json()["authorization_url"])
                if index % 2:
                    query = query_of(callback)
                    done = await client.post(f"/v1/oauth/{vendor}/callback",
                                             json={"code": query["code"], "state": query["state"]})
                else:
                    done = await client.get(callback)
                assert done.status_code == 200, done.text
            # A pending authorization holds a PKCE verifier; leave one unfinished.
            await client.post("/v1/users/pending/connections/envelope_basic_pkce", headers=AUTH)
            clock.advance(86_400 + 60)
            # A second engine on the same store (as a worker would be) refreshes every token.
            async with Engine(Settings.from_env(env), clock=clock) as worker:
                for index, vendor in enumerate(VENDORS):
                    fresh = await worker.oauth.fresh_connection(vendor, f"user-{index}")
                    assert fresh.access_token
            for user, vendor in (("user-0", "whoop"), ("user-1", "oura")):  # oura revokes by query
                deleted = await client.delete(f"/v1/users/{user}/connections/{vendor}", headers=AUTH)
                assert deleted.json()["revoked_at_vendor"] is True
            listed = await client.get("/v1/users/user-1/connections", headers=AUTH)
            assert listed.status_code == 200

    secrets = secrets_in(sim)
    assert len(secrets) >= 3 + 2 * len(VENDORS)
    data_dir = Path(env["ENGINE_DATA_DIR"])
    files = [p for p in data_dir.rglob("*") if p.is_file() and p.name != "secret.key"]
    assert any(p.name.endswith(".db") for p in files)
    blob = b"".join(p.read_bytes() for p in files)
    for secret in secrets:
        assert secret.encode() not in blob
    logs = "\n".join(record.getMessage() for record in caplog.records if not from_vendor_server(record))
    assert "/v1/oauth/" in logs  # the access log was captured
    for secret in secrets:
        assert secret not in logs
    assert "code_verifier" not in logs
