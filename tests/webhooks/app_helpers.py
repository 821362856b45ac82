"""Build the webhook ASGI app over a real SQLite store and post to it in-process."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx2
from starlette.applications import Starlette

from engine.api.webhooks import webhook_routes
from engine.webhooks.receive import WebhookReceiver
from tests.webhooks.conftest import RUNTIME_ENV


def make_app(specs, store, env=None, clock=None) -> Starlette:
    kwargs = {"clock": clock} if clock else {}
    receiver = WebhookReceiver(specs, store, env=RUNTIME_ENV if env is None else env, **kwargs)
    return Starlette(routes=webhook_routes(receiver))


def client(app) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1")


def inbox_rows(data_dir: Path) -> list[tuple]:
    with sqlite3.connect(data_dir / "engine.db") as conn:
        return conn.execute(
            "SELECT vendor, event_key, event_type, vendor_user_id, user_id, job_id FROM inbox_events"
        ).fetchall()
