"""The guide's walk-through, end to end: a vendor the catalogue does not have (Acme Band), written
only from docs/adding-a-vendor.md, is validated, contract-tested, served, connected and receives
normalized samples from a signed webhook. Everything runs on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from sandbox.server import free_port
from tests.docs.acme_vendor import CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET, serve_acme
from tests.docs.markdown import file_block

API_KEY = "walkthrough-api-key"
GUIDE_FILES = ["vendors/acme.yaml", "vendors/acme/fixtures/sleep.list.json",
               "vendors/acme/fixtures/heart_rate.list.json", "vendors/acme/fixtures/webhook.events.json"]


def engine_cmd(*args: str, cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "engine.cli", *args], check=False, cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=60)
    if check:
        assert result.returncode == 0, f"engine {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def write_guide_files(root: Path) -> None:
    for name in GUIDE_FILES:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file_block(name).text, encoding="utf-8")


def base_env(root: Path, api_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENGINE_", "ACME_"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["HOME"] = str(root)
    # The guide's .env.local, with the local Acme's address and credentials.
    (root / ".env.local").write_text(
        f"ACME_API_BASE={api_base}\nACME_CLIENT_ID={CLIENT_ID}\nACME_CLIENT_SECRET={CLIENT_SECRET}\n"
        f"ACME_WEBHOOK_SECRET={WEBHOOK_SECRET}\nENGINE_API_KEY={API_KEY}\n")
    return env


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, "engine serve exited: " + (process.stderr.read() if process.stderr else "")
        try:
            if httpx2.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("engine serve did not become ready")


def wait_for(predicate, timeout: float = 30, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_guide_spec_and_fixtures_pass_validate_map_and_test(tmp_path: Path):
    write_guide_files(tmp_path)
    env = {**os.environ, "ACME_CLIENT_ID": CLIENT_ID, "ACME_CLIENT_SECRET": CLIENT_SECRET}
    validated = engine_cmd("validate", "--check-env", "vendors/acme.yaml", cwd=tmp_path,
                           env={**env, "ACME_WEBHOOK_SECRET": WEBHOOK_SECRET})
    assert "0 invalid" in validated.stderr
    mapped = engine_cmd("map", "vendors/acme.yaml", "sleep", "vendors/acme/fixtures/sleep.list.json",
                        cwd=tmp_path, env=env)
    sample = json.loads(mapped.stdout.splitlines()[0])
    assert sample["sample_type"] == "sleep_session"
    assert sample["asleep_s"] == 452 * 60 and sample["efficiency_pct"] == 91
    assert sample["tz_offset_min"] == 120 and sample["timestamp_utc"] == "2026-03-01T20:40:00Z"
    first = engine_cmd("test", "vendors/acme.yaml", cwd=tmp_path, env=env, check=False)
    assert first.returncode == 1, "without expected files the contract test must fail"
    engine_cmd("test", "vendors/acme.yaml", "--update", cwd=tmp_path, env=env)
    tested = engine_cmd("test", "vendors/acme.yaml", cwd=tmp_path, env=env)
    assert "passed" in tested.stdout
    expected = (tmp_path / "vendors/acme/fixtures/heart_rate.list.expected.jsonl").read_text().splitlines()
    assert [json.loads(line)["bpm"] for line in expected] == [58, 61]


@pytest.mark.slow
def test_a_new_vendor_written_from_the_guide_receives_normalized_samples(tmp_path: Path):
    write_guide_files(tmp_path)
    with serve_acme() as (acme_url, acme):
        env = base_env(tmp_path, acme_url)
        port = free_port()
        engine_url = f"http://127.0.0.1:{port}"
        env["ENGINE_PUBLIC_URL"] = engine_url
        server = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "serve", "--env-file", ".env.local", "--only", "acme",
             "--port", str(port)],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        try:
            wait_ready(engine_url, server)
            auth = {"Authorization": f"Bearer {API_KEY}"}
            with httpx2.Client(base_url=engine_url, headers=auth, timeout=10) as client:
                started = client.post("/v1/users/alice/connections/acme")
                assert started.status_code == 201, started.text
                consent = httpx2.get(started.json()["authorization_url"], follow_redirects=False)
                assert consent.status_code == 302
                callback = httpx2.get(consent.headers["location"], timeout=10)
                assert callback.status_code == 200, callback.text
                assert callback.json()["vendor_user_id"] == "acme-42"

                def sleep_samples() -> list[dict]:
                    page = client.get("/v1/users/alice/samples", params={"type": "sleep_session"}).json()
                    return page["samples"] if len(page["samples"]) >= 3 else []

                backfilled = wait_for(sleep_samples, what="the initial backfill")
                assert {s["provenance"]["vendor_record_id"] for s in backfilled} == {"sleep-1", "sleep-2", "sleep-3"}
                assert any("cursor=2" in call for call in acme.calls), "the second sleep page was never read"

                # The vendor corrects a night and says so with a signed webhook.
                acme.sleep[1]["total_sleep_minutes"] = 300
                acme.sleep[1]["updated_at"] = "2099-01-01T00:00:00Z"
                event = {"event_id": "evt-7", "user_id": "acme-42", "type": "sleep.updated", "object_id": "sleep-2"}
                (tmp_path / "event.json").write_text(json.dumps(event))
                curl = engine_cmd("sign", "vendors/acme.yaml", "--body", "event.json", "--url",
                                  f"{engine_url}/v1/webhooks/acme", cwd=tmp_path,
                                  env={**env, "ACME_WEBHOOK_SECRET": WEBHOOK_SECRET}).stdout
                delivered = subprocess.run(["sh", "-c", curl], check=False, cwd=tmp_path, capture_output=True,
                                           text=True, timeout=30)
                assert json.loads(delivered.stdout) == {"received": 1, "new": 1, "jobs": 1}, delivered.stderr

                def sleep_sessions() -> list[dict]:
                    return client.get("/v1/users/alice/samples", params={"type": "sleep_session"}).json()["samples"]

                def corrected() -> dict | None:
                    for sample in sleep_sessions():
                        if sample["provenance"]["vendor_record_id"] == "sleep-2" and sample["asleep_s"] == 300 * 60:
                            return sample
                    return None

                sample = wait_for(corrected, what="the webhook's fetch")
                assert sample["source"] == "acme" and sample["user_id"] == "alice"
                assert sample["deep_s"] == 80 * 60 and sample["efficiency_pct"] == 90
                assert sample["tz_offset_min"] == 120 and sample["timestamp_utc"].endswith("Z")
                assert len(sleep_sessions()) == 3
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)
