"""Webhook-handshake tokens, spec secrets, OAuth codes and states and the API key never reach a
log line: not the engine's JSON lines, not the HTTP server's access log (whatever formats it)."""

from __future__ import annotations

import io
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from uvicorn.logging import AccessFormatter, DefaultFormatter

from engine.api.app import create_app
from engine.api.security import protect_logs, spec_secrets
from engine.engine import Engine, Settings
from engine.logs import (
    REDACTED,
    JsonFormatter,
    RedactingFilter,
    TextFormatter,
    add_redactions,
    install_log_redaction,
    redact_text,
)
from sandbox.server import free_port, serve_app_in_thread
from tests.auth.harness import ROOT

HANDSHAKE_VENDORS = ("oura", "strava", "fitbit")


def _token(label: str) -> str:
    return f"{label}-{secrets.token_hex(12)}"


class Tokens:
    """Fresh secrets for one test (redactions are process-wide: no test may lean on another's)."""

    def __init__(self) -> None:
        self.oura = _token("oura-verify")
        self.strava = _token("strava-verify")
        self.fitbit = _token("fitbit-code")
        self.client_secret = _token("client-secret")
        self.api_key = _token("api-key")
        self.wrong = _token("wrong-guess")

    def env(self, tmp_path: Path) -> dict[str, str]:
        vendors = tmp_path / "vendors"
        vendors.mkdir(exist_ok=True)
        for vendor in HANDSHAKE_VENDORS:
            (vendors / f"{vendor}.yaml").write_bytes((ROOT / "vendors" / f"{vendor}.yaml").read_bytes())
        env = {
            "ENGINE_VENDORS_DIR": str(vendors),
            "ENGINE_DATA_DIR": str(tmp_path / "data"),
            "ENGINE_SECRET_KEY": "log-redaction-test-secret-key-0123456789",
            "ENGINE_API_KEY": self.api_key,
            "ENGINE_NO_WORKER": "1",
            "OURA_WEBHOOK_VERIFICATION_TOKEN": self.oura,
            "STRAVA_WEBHOOK_VERIFY_TOKEN": self.strava,
            "FITBIT_SUBSCRIBER_VERIFY_CODE": self.fitbit,
        }
        for vendor in HANDSHAKE_VENDORS:
            env[f"{vendor.upper()}_CLIENT_ID"] = f"{vendor}-client-id"
            env[f"{vendor.upper()}_CLIENT_SECRET"] = f"{self.client_secret}-{vendor}"
        return env

    @property
    def all(self) -> list[str]:
        values = [self.oura, self.strava, self.fitbit, self.api_key, self.wrong]
        return values + [f"{self.client_secret}-{vendor}" for vendor in HANDSHAKE_VENDORS]


def handshakes(tokens: Tokens) -> list[tuple[str, dict[str, str], int]]:
    """(path, query, expected status): each vendor's handshake with the right and a wrong token."""
    return [
        ("/v1/webhooks/oura", {"verification_token": tokens.oura, "challenge": "c-1"}, 200),
        ("/v1/webhooks/oura", {"verification_token": tokens.wrong, "challenge": "c-2"}, 401),
        ("/v1/webhooks/strava", {"hub.mode": "subscribe", "hub.verify_token": tokens.strava,
                                 "hub.challenge": "c-3"}, 200),
        ("/v1/webhooks/strava", {"hub.mode": "subscribe", "hub.verify_token": tokens.wrong,
                                 "hub.challenge": "c-4"}, 403),
        ("/v1/webhooks/fitbit", {"verify": tokens.fitbit}, 204),
        ("/v1/webhooks/fitbit", {"verify": tokens.wrong}, 404),
    ]


@pytest.fixture
def captured(monkeypatch) -> Iterator[io.StringIO]:
    """Every record reaching the root logger, written as the engine writes it (JSON and text)
    and as the HTTP server's own formatters would."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # whatever an earlier server set
        server_log = logging.getLogger(name)
        monkeypatch.setattr(server_log, "propagate", True)
        monkeypatch.setattr(server_log, "disabled", False)
        monkeypatch.setattr(server_log, "level", logging.DEBUG)
    stream = io.StringIO()
    handlers = []
    for formatter in (JsonFormatter(), TextFormatter(), DefaultFormatter("%(message)s")):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handlers.append(handler)
    root = logging.getLogger()
    saved_level = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    try:
        yield stream
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(saved_level)


def assert_clean(text: str, tokens: Tokens) -> None:
    for value in tokens.all:
        assert value not in text, f"{value} is in the logs:\n{text}"


def test_handshake_tokens_are_not_in_the_access_log(tmp_path, captured, caplog):
    caplog.set_level(logging.DEBUG)
    tokens = Tokens()
    engine = Engine(Settings.from_env(tokens.env(tmp_path)))
    port = free_port()
    app = create_app(engine)
    with serve_app_in_thread(app, port=port, name="engine", log_config=None, log_level="debug",
                             access_log=True, lifespan="on") as base:
        for path, query, status in handshakes(tokens):
            response = httpx2.get(base + path, params=query)
            assert response.status_code == status, (path, response.text)
            assert_clean(response.text, tokens)  # nor in an error message
    access = [r for r in caplog.records if r.name == "uvicorn.access"]
    assert len(access) == len(handshakes(tokens))
    # the record itself is clean, whatever handler formats it, and keeps its five arguments
    assert all(isinstance(r.args, tuple) and len(r.args) == 5 for r in access)
    assert all(REDACTED in str(r.args[2]) for r in access)
    assert_clean("\n".join(r.getMessage() for r in caplog.records), tokens)
    assert_clean(captured.getvalue(), tokens)
    assert "hub.challenge=c-3" in captured.getvalue()  # the rest of the query is still shown


def test_spec_secrets_and_api_key_are_redacted_wherever_they_appear(tmp_path):
    tokens = Tokens()
    env = tokens.env(tmp_path)
    engine = Engine(Settings.from_env(env))
    protect_logs(engine)
    lines = [
        f"calling with secret {tokens.client_secret}-oura in the middle of a sentence",
        f"GET /x?next=https%3A%2F%2Fa.example%2F%3Ft%3D{tokens.oura}",
        f'{{"verify_token": "{tokens.strava}"}}',
        f"boom: the key {tokens.api_key} was wrong",
        f"/v1/webhooks/fitbit?verify={tokens.wrong}&x=1",
        f"/v1/webhooks/oura?challenge=abc&verification_token={tokens.wrong}",
        f"/v1/webhooks/strava?hub.mode=subscribe&hub.verify_token={tokens.wrong}",
        f"/v1/webhooks/strava?hub.mode=subscribe&hub%2Everify_token={tokens.wrong}",
        f"/v1/oauth/oura/callback?code={tokens.wrong}&state=s-{tokens.wrong}",
    ]
    for line in lines:
        cleaned = redact_text(line)
        assert_clean(cleaned, tokens)
        assert REDACTED in cleaned
    assert redact_text("/v1/webhooks/fitbit?unverify=kept-value") == "/v1/webhooks/fitbit?unverify=kept-value"
    params, values = spec_secrets(engine.spec("strava"), env)
    assert params == {"hub.verify_token"} and tokens.strava in values


def test_a_rotated_secret_is_redacted_part_by_part():
    old, new = _token("old-secret"), _token("new-secret")
    add_redactions(values=[f"{old}, {new}"])
    assert redact_text(f"tried {new} then {old}") == f"tried {REDACTED} then {REDACTED}"


def test_uvicorn_formatters_see_records_already_redacted():
    tokens = Tokens()
    add_redactions(query_params=["verification_token"], values=[tokens.fitbit])
    install_log_redaction()
    access = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/v1/webhooks/oura?verification_token={tokens.oura}&challenge=x", "1.1", 200),
        None)
    RedactingFilter().filter(access)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(access)
    assert line == f'127.0.0.1:5000 - "GET /v1/webhooks/oura?verification_token={REDACTED}&challenge=x HTTP/1.1" 200 OK'
    try:
        raise RuntimeError(f"failed on /v1/webhooks/fitbit?x={tokens.fitbit}")
    except RuntimeError:
        error = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application",
                                  (), sys.exc_info())
    RedactingFilter().filter(error)
    assert tokens.fitbit not in DefaultFormatter("%(message)s").format(error)
    assert all(isinstance(f, RedactingFilter) for f in logging.getLogger("uvicorn.access").filters)


def wait_until_up(proc: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        try:
            if httpx2.get(url).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)


def stop(proc: subprocess.Popen) -> str:
    """Stop the server; everything it wrote (uvicorn's own config sends access lines to stdout)."""
    proc.terminate()
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out.decode() + err.decode()


@pytest.mark.parametrize("command", ["engine serve", "uvicorn engine.app:app"])
def test_a_real_server_logs_no_handshake_token(tmp_path, command):
    """`engine serve` (JSON lines) and plain uvicorn (its own access-log format)."""
    tokens = Tokens()
    port = free_port()
    env = {**os.environ, **tokens.env(tmp_path), "PYTHONPATH": str(ROOT)}
    if command == "engine serve":
        argv = [sys.executable, "-m", "engine.cli", "serve", "--port", str(port), "--no-worker",
                "--log-level", "debug", "--log-format", "json"]
    else:
        argv = [sys.executable, "-m", "uvicorn", "engine.app:app", "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "debug"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until_up(proc, f"http://127.0.0.1:{port}/healthz")
        for path, query, status in handshakes(tokens):
            response = httpx2.get(f"http://127.0.0.1:{port}{path}", params=query)
            assert response.status_code == status, (path, response.text)
        callback = httpx2.get(f"http://127.0.0.1:{port}/v1/oauth/oura/callback",
                              params={"code": tokens.wrong, "state": tokens.wrong})
        assert callback.status_code >= 400
        assert_clean(callback.text, tokens)
        unauthorized = httpx2.get(f"http://127.0.0.1:{port}/v1/vendors",
                                  headers={"Authorization": f"Bearer {tokens.wrong}"})
        assert unauthorized.status_code == 401
    finally:
        logs = stop(proc)
    assert "/v1/webhooks/strava?hub.mode=subscribe" in logs  # the access log was written
    assert logs.count(REDACTED) >= len(handshakes(tokens))
    assert_clean(logs, tokens)
