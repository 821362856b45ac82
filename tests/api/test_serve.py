"""`engine serve`: loopback-only without an API key; options and their env twins."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import pytest

from engine.cli import main
from sandbox.server import free_port
from tests.auth.harness import AUTH, ROOT, engine_env

# The command line docs/deploying.md gives for running the app on uvicorn itself.
UVICORN = ["-m", "uvicorn", "engine.app:app", "--host", "127.0.0.1",
           "--http", "engine.api.server:JsonErrorH11Protocol", "--ws", "none"]
ENGINE_SERVE = ["-m", "engine.cli", "serve", "--no-worker"]


@contextmanager
def serving(child_env: dict[str, str], *options: str, command: list[str] = ENGINE_SERVE) -> Iterator[int]:
    """`engine serve` (or `command`) in a child process on a free port, once /healthz answers
    200; yields the port. The child's output goes to a file, which no amount of logging fills."""
    port = free_port()
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            [sys.executable, *command, "--port", str(port), "--log-level", "warning", *options],
            cwd=ROOT, env={**child_env, "PYTHONPATH": str(ROOT), "ENGINE_NO_WORKER": "1"},
            stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while True:
                if proc.poll() is not None:
                    output.seek(0)
                    raise AssertionError(output.read().decode(errors="replace"))
                try:
                    if httpx2.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                assert time.monotonic() < deadline, "engine serve did not start"
                time.sleep(0.1)
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_refuses_public_host_without_api_key(host, monkeypatch, capsys):
    monkeypatch.delenv("ENGINE_API_KEY", raising=False)
    assert main(["serve", "--host", host, "--port", "1"]) == 2
    assert "ENGINE_API_KEY" in capsys.readouterr().err


def test_broken_vendors_dir_is_a_clear_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "bad.yaml").write_text("id: [unclosed\n")
    monkeypatch.setenv("ENGINE_DATA_DIR", str(tmp_path / "data"))
    assert main(["serve", "--vendors", str(tmp_path), "--port", "1"]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "Traceback" not in err


def test_serves_only_the_selected_vendors(sim, tmp_path):
    child_env = {**os.environ, **engine_env(sim, tmp_path)}
    child_env.pop("ENGINE_VENDORS_DIR")
    child_env["ENGINE_ONLY"] = "oura"  # the option wins over its env twin
    with serving(child_env, "--vendors", str(tmp_path / "vendors"), "--only", "whoop") as port:
        vendors = httpx2.get(f"http://127.0.0.1:{port}/v1/vendors", headers=AUTH).json()["vendors"]
        assert [v["id"] for v in vendors] == ["whoop"]
        assert httpx2.get(f"http://127.0.0.1:{port}/v1/vendors").status_code == 401


@pytest.mark.parametrize(("setting", "value", "said"), [
    ("ENGINE_SECRET_KEY", "short", "at least 32"),
    ("ENGINE_DATABASE_URL", "mysql://db/engine", "unsupported ENGINE_DATABASE_URL scheme 'mysql'"),
    ("ENGINE_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/engine", "cannot open PostgreSQL"),
])
def test_a_bad_setting_is_one_line_and_exit_2(setting, value, said, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ENGINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ENGINE_SECRET_KEY", "k" * 40)
    monkeypatch.setenv(setting, value)
    assert main(["serve", "--vendors", str(ROOT / "vendors"), "--port", "1"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and said in errors[0] and "Traceback" not in err


def test_redirect_uris_name_the_port_served_when_no_public_url_is_set(sim, tmp_path):
    child_env = {**os.environ, **engine_env(sim, tmp_path)}
    child_env.pop("ENGINE_PUBLIC_URL")
    with serving(child_env) as port:
        answer = httpx2.post(f"http://127.0.0.1:{port}/v1/users/u1/connections/whoop", headers=AUTH)
    assert answer.status_code == 201, answer.text
    redirect = f"http%3A%2F%2F127.0.0.1%3A{port}%2Fv1%2Foauth%2Fwhoop%2Fcallback"
    assert redirect in answer.json()["authorization_url"]


NOT_HTTP = [
    b"POST /v1/webhooks/whoop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Db{Bn/<\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n",
    b"NOT HTTP AT ALL\r\n\r\n",
]


def _raw_exchange(port: int, request_head: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send bytes as they are; the answer's status line, headers and its Content-Length body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request_head)
        answer = b""
        while b"\r\n\r\n" not in answer and (chunk := conn.recv(65536)):
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in header_lines)
        while len(body) < int(headers["content-length"]) and (chunk := conn.recv(65536)):
            body += chunk
    return status_line, headers, body


@pytest.mark.parametrize("command", [ENGINE_SERVE, UVICORN], ids=["engine serve", "uvicorn"])
def test_a_request_that_is_not_http_is_answered_in_the_json_error_shape(command, sim, tmp_path):
    """The server refuses these before the app sees them; its answer is still the API's shape."""
    with serving({**os.environ, **engine_env(sim, tmp_path)}, command=command) as port:
        for request_head in NOT_HTTP:
            status_line, headers, body = _raw_exchange(port, request_head)
            assert status_line == "HTTP/1.1 400 Bad Request", request_head
            assert headers["content-type"] == "application/json"
            assert int(headers["content-length"]) == len(body)
            assert json.loads(body) == {
                "error": {"code": "bad_request", "message": "Invalid HTTP request received."}}
        # No WebSocket route: an upgrade request is plain HTTP to the app, answered in JSON too.
        status_line, headers, body = _raw_exchange(port, (
            b"GET /v1/nowhere HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"))
        assert status_line == "HTTP/1.1 401 Unauthorized", status_line  # the app itself answers
        assert headers["content-type"] == "application/json"
        assert json.loads(body)["error"]["code"] == "unauthorized"
