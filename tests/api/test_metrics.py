"""`GET /metrics` after a scripted flow through the simulator: every counter moved by what the
simulator and the store saw happen, read back with Prometheus' own text parser."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.observability.metrics import Metrics, multiprocess_mode
from tests.auth.harness import AUTH, connect
from tests.e2e.helpers import drain, engine_app, send_whoop_webhook

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}."""
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client, headers=AUTH) -> dict:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def all_samples(engine, user: str) -> int:
    count, cursor = 0, None
    while True:
        page = await engine.store.list_samples(user, limit=1000, cursor=cursor)
        count += len(page.samples)
        if page.next_cursor is None:
            return count
        cursor = page.next_cursor


async def test_counters_follow_a_scripted_flow(env, sim, clock):
    async with engine_app({**env, "ENGINE_INITIAL_SYNC": "0"}, clock) as (engine, client):
        assert (await connect(client, "whoop", "user-1")).status_code == 200
        vendor_user = sim.state.default_user("whoop")
        secret = sim.state.client("whoop").client_secret
        sleeps = [s for s in sim.state.records("whoop", "sleep", vendor_user.key) if not s["nap"]][:2]

        # Two deliveries, one sent twice (a replay), one with a broken signature, one for a
        # vendor that does not exist.
        events = [{"user_id": vendor_user.vendor_id, "id": s["id"], "type": "sleep.updated",
                   "trace_id": f"t-{n}"} for n, s in enumerate(sleeps)]
        for event in [*events, events[0]]:
            answer = await send_whoop_webhook(client, secret, event, int(clock() * 1000))
            assert answer.status_code == 200, answer.text
        forged = await send_whoop_webhook(client, "not-the-secret", events[1], int(clock() * 1000))
        assert forged.status_code == 401
        assert (await client.post("/v1/webhooks/nobody", content=b"{}")).status_code == 404

        # Two jobs are queued; the oldest is as old as the clock says.
        clock.advance(100)
        queued = await scrape(client)
        assert value(queued, "engine_queue_jobs", state="queued") == 2
        assert 100 <= value(queued, "engine_queue_oldest_job_age_seconds") < 160

        # The first fetch is answered 429 once, then retried.
        sim.state.inject("whoop", "/developer/v2/activity/sleep", "rate_limited", times=1, retry_after=1)
        assert await drain(engine) == 2
        clock.advance(await_expiry := (await engine.store.get_connection("whoop", "user-1")).token_expires_at
                      - clock() - 30)
        assert await_expiry > 0
        calls_before = sim.state.token_calls("whoop")
        await engine.oauth.fresh_connection("whoop", "user-1")  # due: refreshed proactively
        assert sim.state.token_calls("whoop") == calls_before + 1

        samples = await scrape(client)
        deliveries = {outcome: value(samples, "engine_webhook_deliveries_total", vendor="whoop", outcome=outcome)
                      for outcome in ("accepted", "unauthenticated")}
        assert deliveries == {"accepted": 3, "unauthenticated": 1}
        assert value(samples, "engine_webhook_deliveries_total", vendor="(unknown)", outcome="refused") == 1
        assert value(samples, "engine_webhook_verification_failures_total", vendor="whoop",
                     reason="signature") == 1

        assert value(samples, "engine_jobs_total", kind="webhook_event", state="done") == 2
        assert value(samples, "engine_job_duration_seconds_count", kind="webhook_event") == 2
        assert value(samples, "engine_queue_jobs", state="queued") == 0
        assert value(samples, "engine_queue_jobs", state="done") == 2
        assert value(samples, "engine_queue_oldest_job_age_seconds") == 0

        # Every fetch (the profile read at connect time is the OAuth flow's, not a fetch).
        fetches = sim.state.calls_to("whoop", "/developer/v2/activity/")
        by_status = Counter(str(c.status) for c in fetches)
        assert by_status == {"429": 1, "200": 2}
        for status, count in by_status.items():
            assert value(samples, "engine_vendor_requests_total", vendor="whoop", status=status) == count
        assert value(samples, "engine_vendor_rate_limited_total", vendor="whoop") == 1

        assert value(samples, "engine_token_refreshes_total", vendor="whoop", outcome="ok") == 1
        stored = await all_samples(engine, "user-1")
        assert stored > 0
        assert value(samples, "engine_samples_written_total", vendor="whoop") == stored


async def test_metrics_need_the_key_or_the_metrics_token(env, sim, clock):
    async with engine_app({**env, "ENGINE_METRICS_TOKEN": "scrape-token-0123456789"}, clock) as (_, client):
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
        assert "test-api-key" not in wrong.text and "scrape-token" not in wrong.text
        await scrape(client, AUTH)
        await scrape(client, {"Authorization": "Bearer scrape-token-0123456789"})
        # The metrics token opens nothing else.
        other = await client.get("/v1/vendors", headers={"Authorization": "Bearer scrape-token-0123456789"})
        assert other.status_code == 401


async def test_without_any_key_metrics_answer_loopback_clients_only(env, sim, clock):
    keyless = {k: v for k, v in env.items() if k != "ENGINE_API_KEY"}
    async with engine_app(keyless, clock) as (_, client):
        # httpx's ASGI transport presents the client as 127.0.0.1
        assert (await client.get("/metrics")).status_code == 200
        proxied = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 403 and proxied.json()["error"]["code"] == "loopback_only"


def test_every_engine_has_its_own_registry():
    first, second = Metrics(), Metrics()
    first.samples_stored("whoop", 3)
    assert first.value("engine_samples_written_total", vendor="whoop") == 3
    assert second.value("engine_samples_written_total", vendor="whoop") == 0


COUNT_IN_A_PROCESS = """
import sys
from pathlib import Path
from engine.observability.metrics import Metrics, multiprocess_mode
with multiprocess_mode(Path(sys.argv[1])):
    metrics = Metrics()
    metrics.samples_stored("whoop", int(sys.argv[2]))
    metrics.job_finished("poll", "done", 0.2)
"""


def test_separate_processes_add_up_in_multiprocess_mode(tmp_path):
    """What `engine serve` and `engine worker` do: each process writes its counts under the data
    directory, and a scrape from any of them sees the sum."""
    for count in (3, 4):
        subprocess.run([sys.executable, "-c", COUNT_IN_A_PROCESS, str(tmp_path), str(count)],
                       check=True, cwd=ROOT, timeout=60)
    assert sorted(p.name.split("_")[0] for p in (tmp_path / "metrics").iterdir()) == ["counter", "counter",
                                                                                     "histogram", "histogram"]
    reader = subprocess.run(
        [sys.executable, "-c", "import sys, json; from pathlib import Path\n"
         "from engine.observability.metrics import Metrics, multiprocess_mode\n"
         "with multiprocess_mode(Path(sys.argv[1])):\n"
         "    print(json.dumps({'text': Metrics().render().decode()}))", str(tmp_path)],
        check=True, cwd=ROOT, timeout=60, capture_output=True, text=True)
    samples = parse(json.loads(reader.stdout)["text"])
    assert value(samples, "engine_samples_written_total", vendor="whoop") == 7
    assert value(samples, "engine_jobs_total", kind="poll", state="done") == 2
    assert value(samples, "engine_job_duration_seconds_count", kind="poll") == 2
    assert value(samples, "engine_job_duration_seconds_sum", kind="poll") == pytest.approx(0.4)


def test_multiprocess_mode_leaves_the_process_as_it_was(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with multiprocess_mode(tmp_path) as directory:
        assert directory == tmp_path / "metrics" and directory.is_dir()
        assert Metrics().multiprocess_dir == directory
    assert Metrics().multiprocess_dir is None
