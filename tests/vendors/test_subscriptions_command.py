"""`engine subscriptions` against the simulator and a running engine (which answers the vendor's
subscription handshake): create and list, as text and as JSON."""

from __future__ import annotations

import json

from engine.api.app import create_app
from engine.cli import main
from engine.engine import Engine, Settings
from sandbox.server import free_port, serve_app_in_thread
from tests.vendors.harness import engine_env


def test_subscriptions_as_json(sim, tmp_path, monkeypatch, capsys):
    port = free_port()
    env = {**engine_env(sim, tmp_path, "strava"), "ENGINE_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "ENGINE_NO_WORKER": "1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with serve_app_in_thread(create_app(Engine(Settings.from_env(env))), port=port, lifespan="on"):
        assert main(["subscriptions", "strava", "--create", "--format", "json"]) == 0
        created = json.loads(capsys.readouterr().out)
        assert created["vendor"] == "strava" and created["subscriptions"] == 1
        assert [s["id"] for s in created["created"]] == [str(s["id"]) for s in sim.state.subscriptions["strava"]]

        assert main(["subscriptions", "strava", "--format", "json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert listed == {"vendor": "strava", "subscriptions": created["created"]}

        assert main(["subscriptions", "strava"]) == 0
        assert capsys.readouterr().out.splitlines()[-1] == "strava: 1 subscription(s)"
