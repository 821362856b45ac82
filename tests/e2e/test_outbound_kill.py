"""kill -9 mid-delivery: `engine serve` in its own process (sandbox vendors on loopback, a real
receiver verifying signatures with the `standardwebhooks` package) is killed with SIGKILL while
a delivery is in flight, then started again on the same data directory. Nothing is lost, a
message sent twice carries the same `webhook-id` (and the same body), and each user's messages
arrive in the feed's order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from sandbox.server import free_port
from tests.auth.harness import AUTH, ROOT, Clock, connect, engine_env, running_sim
from tests.e2e.receiver import Answer, Receiver, running_receiver

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

PHASE_S = 60.0  # the longest any one step may take


def wait_for(what: str, done: Callable[[], bool], timeout_s: float = PHASE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextmanager
def engine_serve(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen]:
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "serve", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, stdout=sink, stderr=sink)
    try:
        def healthy() -> bool:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                return httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx2.TransportError:
                return False

        wait_for("engine serve to start", healthy, 30)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=15)


def feed(base: str) -> list[dict]:
    documents: list[dict] = []
    cursor = "0"
    while True:
        page = httpx2.get(f"{base}/v1/changes", headers=AUTH, params={"cursor": cursor, "limit": 1000}).json()
        documents += page["data"]
        if not page["has_more"]:
            return documents
        cursor = page["next_cursor"]


def backfilled(base: str, users: dict[str, str]) -> bool:
    """Every user's initial sync has ended each of its resources."""
    ended = {(d["data"]["user_id"], d["data"]["resource"]) for d in feed(base) if d["type"] == "sync.completed"}
    return all(any(user == u for u, _ in ended) for user in users) and not any(
        d["type"] == "sync.progress" and (d["data"]["user_id"], d["data"]["resource"]) not in ended
        for d in feed(base))


def collapsed(ids: list[str]) -> list[str]:
    """The ids without immediate repeats (a message sent again right after itself)."""
    return [i for n, i in enumerate(ids) if n == 0 or ids[n - 1] != i]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


async def test_kill_9_mid_delivery_loses_nothing_and_keeps_ids_and_order(tmp_path, receiver):
    with running_sim(Clock()) as sim:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = engine_env(sim, tmp_path, ENGINE_PUBLIC_URL=base, ENGINE_OUTBOUND_ALLOW_PRIVATE="1",
                         ENGINE_OUTBOUND_LEASE_S="1", ENGINE_OUTBOUND_BACKOFF_BASE_S="0.05",
                         ENGINE_OUTBOUND_BACKOFF_CAP_S="0.5")
        log = tmp_path / "engine.log"
        users = {"user-1": "whoop", "user-2": "oura"}
        with engine_serve(env, port, log) as first:
            async with httpx2.AsyncClient(base_url=base) as client:
                created = await client.post("/v1/endpoints", json={"url": receiver.url}, headers=AUTH)
                assert created.status_code == 201, created.text
                receiver.secret = created.json()["secret"]
                endpoint = created.json()["id"]
                # deliveries wait while the backfills run, so the kill finds a long queue
                paused = await client.patch(f"/v1/endpoints/{endpoint}", json={"status": "paused"}, headers=AUTH)
                assert paused.status_code == 200
                for user, vendor in users.items():
                    assert (await connect(client, vendor, user)).status_code == 200
            wait_for("the backfills", lambda: backfilled(base, users))
            queued = feed(base)
            assert len(queued) >= 10

            # three answers, then one that hangs: the engine is killed while it waits for it
            receiver.script = [Answer(), Answer(), Answer(), Answer(delay_s=10)]
            resumed = httpx2.patch(f"{base}/v1/endpoints/{endpoint}", json={"status": "active"}, headers=AUTH)
            assert resumed.status_code == 200
            wait_for("a delivery in flight", lambda: len(receiver.received) >= 4)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            in_flight = receiver.received[3].webhook_id
            sent_before = len(receiver.received)

        with engine_serve(env, port, log):
            wait_for("every event delivered after the restart",
                     lambda: {d["id"] for d in feed(base)} <= {r.webhook_id for r in receiver.delivered()})
            documents = feed(base)
            states = httpx2.get(f"{base}/v1/endpoints/{endpoint}", headers=AUTH).json()["deliveries"]

    assert all(r.verified for r in receiver.received)
    assert sent_before < len(queued) < len(receiver.received)  # killed with most of the queue still to send
    assert documents[:len(queued)] == queued  # the feed itself lost nothing at the kill
    received = receiver.delivered()
    assert {r.webhook_id for r in received} == {d["id"] for d in documents}  # nothing lost, nothing made up
    # at-least-once: what was in flight went out again, as the same message
    assert [r.webhook_id for r in received].count(in_flight) >= 2, (len(queued), sent_before)
    for r in received:
        assert r.webhook_id == r.body["id"]
        assert r.body == next(d for d in documents if d["id"] == r.webhook_id)
    # order per (user, endpoint): the feed's, a repeat only right after itself
    for user in users:
        expected = [d["id"] for d in documents if d["data"].get("user_id") == user]
        assert collapsed([r.webhook_id for r in received if r.body["data"].get("user_id") == user]) == expected
    assert states["delivered"] == len(documents) and states["pending"] == states["sending"] == 0
