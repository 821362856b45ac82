"""`engine demo` from a fresh data dir, read through the public API while it runs: every live OAuth
vendor connected, samples of many types, an update that arrived by a webhook the sandbox really
sent (its count of 2xx answers agrees with the engine's), a revoked person marked reauth_required;
Ctrl-C ends it with exit 0 and nothing left listening."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

from engine.settings import default_vendors_dir
from engine.spec.loader import load_specs_dir
from sandbox.profiles import PROFILES
from sandbox.server import free_port

ROOT = Path(__file__).resolve().parents[1]
LIVENESS_S = 60
pytestmark = pytest.mark.slow


def live_sandboxed_vendors() -> list[str]:
    specs = load_specs_dir(default_vendors_dir(), env={})
    return sorted(v for v, spec in specs.items() if v in PROFILES and spec.status != "retired")


def test_the_demo_shows_the_whole_product_working(tmp_path: Path):
    vendors = live_sandboxed_vendors()
    assert len(vendors) >= 6 and "fitbit" not in vendors  # retired vendors are left out
    port, data = free_port(), tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGINE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "demo", "--users", "2", "--speed", "600", "--port", str(port),
         "--data-dir", str(data)],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    seen: dict[str, object] = {}
    try:
        deadline = time.monotonic() + LIVENESS_S
        while time.monotonic() < deadline and not _all_seen(seen, vendors):
            assert process.poll() is None, "".join(lines)
            _look(base, vendors, seen)
            time.sleep(1)
        assert set(seen.get("connected", set())) == set(vendors), "".join(lines[-20:])
        assert len(seen.get("types", set())) >= 5, seen
        assert seen.get("webhook_samples", 0) >= 1, "".join(lines[-20:])
        assert seen.get("reauth_required"), "".join(lines[-20:])
        console = next(line for line in lines if "console:" in line).split()[1]
        with httpx2.Client(follow_redirects=True, timeout=10) as browser:  # the link logs in once
            opened = browser.get(console)
        assert opened.status_code == 200 and "/console" in str(opened.url) and "whoop" in opened.text, opened.text[:500]
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    reader.join(timeout=5)
    assert code == 0, "".join(lines[-20:])
    final = next(line for line in reversed(lines) if "engine demo: stopped" in line)
    match = re.search(r"sent (\d+) webhook\(s\), (\d+) answered 2xx, and (\d+) handshake POST\(s\) "
                      r"answered 2xx; the engine accepted (\d+)", final)
    assert match, final
    sent, answered, handshakes, accepted = map(int, match.groups())
    assert answered >= 1 and answered == sent
    assert accepted == answered + handshakes, final  # the engine's count agrees with the sandbox's
    assert not any("Traceback" in line for line in lines), "".join(lines)
    with pytest.raises(httpx2.TransportError):  # nothing left listening
        httpx2.get(f"{base}/healthz", timeout=1)


def _all_seen(seen: dict[str, object], vendors: list[str]) -> bool:
    return (set(seen.get("connected", set())) == set(vendors) and len(seen.get("types", set())) >= 5
            and seen.get("webhook_samples", 0) >= 1 and bool(seen.get("reauth_required")))


def _look(base: str, vendors: list[str], seen: dict[str, object]) -> None:
    connected: set[str] = set(seen.get("connected", set()))
    webhook_samples = 0
    types: set[str] = set(seen.get("types", set()))
    try:
        for vendor in vendors:
            for index in (1, 2):
                user = f"demo-{vendor}-{index}"
                answer = httpx2.get(f"{base}/v1/users/{user}/connections", timeout=5)
                if answer.status_code != 200:
                    continue
                for connection in answer.json()["connections"]:
                    connected.add(connection["vendor"])
                    if connection["status"] == "reauth_required":
                        seen["reauth_required"] = f"{user}/{connection['vendor']}"
                # the life clock starts a day back: what happened since then is the newest data
                since = (datetime.now(UTC) - timedelta(hours=26)).isoformat()
                page = httpx2.get(f"{base}/v1/users/{user}/samples", params={"limit": 1000, "since": since},
                                  timeout=5)
                if page.status_code == 200:
                    samples = page.json()["samples"]
                    types.update(sample["sample_type"] for sample in samples)
                    webhook_samples += sum(1 for sample in samples
                                           if sample.get("provenance", {}).get("channel") == "webhook")
    except httpx2.TransportError:
        return  # not listening yet
    seen["connected"], seen["types"] = connected, types
    seen["webhook_samples"] = max(int(seen.get("webhook_samples", 0)), webhook_samples)


def test_serve_sandbox_lets_a_developer_connect_by_hand(tmp_path: Path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGINE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--sandbox", "--port", str(port), "--no-worker",
         "--log-format", "text"],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT), "ENGINE_DATA_DIR": str(tmp_path / "data")},
        stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LIVENESS_S
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx2.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "engine serve --sandbox did not start"
            time.sleep(0.2)
        started = httpx2.post(f"{base}/v1/users/dev-1/connections/whoop", json={}, timeout=10)
        assert started.status_code == 201, started.text
        consent_url = started.json()["authorization_url"]
        assert consent_url.startswith("http://127.0.0.1:")  # the sandbox, not WHOOP
        consent = httpx2.get(consent_url, timeout=10)  # the sandbox's consent page approves
        assert consent.status_code == 302
        assert httpx2.get(consent.headers["location"], timeout=10).status_code == 200
        connections = httpx2.get(f"{base}/v1/users/dev-1/connections", timeout=10).json()["connections"]
        assert [(c["vendor"], c["status"]) for c in connections] == [("whoop", "active")]
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0, process.stderr.read()[-3000:] if process.stderr else ""
