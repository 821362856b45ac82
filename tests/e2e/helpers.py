"""End-to-end plumbing: the real ASGI app (with the webhook routes), a worker drained in process."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import httpx2

from engine.api.app import create_app
from engine.api.webhooks import engine_webhook_routes
from engine.engine import Engine, Settings
from engine.worker.runner import WorkerConfig
from tests.auth.harness import AUTH, PUBLIC_URL
from tests.webhooks.signers import whoop_headers


@contextlib.asynccontextmanager
async def engine_app(env: dict[str, str], clock) -> AsyncIterator[tuple[Engine, httpx2.AsyncClient]]:
    engine = Engine(Settings.from_env(env), clock=clock)
    async with engine:
        app = create_app(engine, extra_public_routes=engine_webhook_routes(engine))
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
            yield engine, client


async def drain(engine: Engine, *, limit: int = 10_000) -> int:
    """Run queued jobs until none is due; returns how many ran."""
    worker = engine.worker(WorkerConfig(lease_s=30, backoff_base_s=0.01, backoff_cap_s=0.05))
    ran = 0
    while ran < limit and await worker.run_once():
        ran += 1
    return ran


async def sync_events(client: httpx2.AsyncClient) -> list[dict]:
    """The sync.progress and sync.completed documents of the changes feed, in feed order."""
    response = await client.get("/v1/changes", headers=AUTH,
                                params={"limit": 1000, "types": "sync.progress,sync.completed"})
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def send_whoop_webhook(client: httpx2.AsyncClient, secret: str, event: dict, now_ms: int) -> httpx2.Response:
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", **whoop_headers(secret, body, now_ms)}
    return await client.post("/v1/webhooks/whoop", content=body, headers=headers)
