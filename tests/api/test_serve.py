"""`engine serve`: loopback-only without an API key; options and their env twins."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx2
import pytest

from engine.cli import main
from tests.auth.harness import AUTH, ROOT, engine_env
from tests.sim.server import free_port


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
    env = engine_env(sim, tmp_path)
    port = free_port()
    child_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    child_env.pop("ENGINE_VENDORS_DIR")
    child_env["ENGINE_ONLY"] = "oura"  # the option wins over its env twin
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--port", str(port), "--vendors", str(tmp_path / "vendors"),
         "--only", "whoop", "--no-worker", "--log-level", "warning"],
        cwd=ROOT, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "engine serve did not start"
            time.sleep(0.1)
        vendors = httpx2.get(f"http://127.0.0.1:{port}/v1/vendors", headers=AUTH).json()["vendors"]
        assert [v["id"] for v in vendors] == ["whoop"]
        assert httpx2.get(f"http://127.0.0.1:{port}/v1/vendors").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
