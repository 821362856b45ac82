"""The engine's own app serves the webhook routes publicly (no API key), backed by its store."""

from __future__ import annotations

import json
import time

from starlette.testclient import TestClient

from engine.api.app import create_app
from engine.engine import Engine, Settings
from tests.webhooks.conftest import ROOT, SPEC_ENV, WHOOP_SECRET
from tests.webhooks.signers import whoop_headers


def test_engine_app_receives_signed_webhook_without_api_key(tmp_path):
    trace = "wired-1"
    env = {**SPEC_ENV, "ENGINE_API_KEY": "k" * 40, "ENGINE_SECRET_KEY": "s" * 40}
    settings = Settings.from_env(env, vendors_dir=ROOT / "vendors", data_dir=tmp_path / "data", only=("whoop",))
    body = json.dumps({"user_id": 1, "id": "x", "type": "sleep.updated", "trace_id": trace}).encode()
    with TestClient(create_app(Engine(settings)), base_url="http://127.0.0.1") as http:
        now_ms = int(time.time() * 1000)
        ok = http.post("/v1/webhooks/whoop", content=body, headers=whoop_headers(WHOOP_SECRET, body, now_ms))
        bad = http.post("/v1/webhooks/whoop", content=body, headers=whoop_headers("nope", body, now_ms))
    assert ok.status_code == 200 and ok.json()["received"] == 1
    assert bad.status_code == 401
