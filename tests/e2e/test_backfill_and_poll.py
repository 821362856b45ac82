"""Backfills through the sync API under a scaled-down vendor limit and injected faults, a worker
killed mid-job, and a poll-only vendor that gets new data by polling alone."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.worker.scheduler import Scheduler
from sandbox.app import Simulator
from sandbox.server import serve_in_thread
from sandbox.state import Record, SimState
from tests.auth.harness import API_KEY, AUTH, PUBLIC_URL, SECRET_KEY, Clock, connect
from tests.e2e.helpers import drain, engine_app

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim(clock: Clock):
    with serve_in_thread(Simulator(SimState(["whoop", "dexcom"], clock=clock))) as running:
        yield running


@pytest.fixture
def env(sim, tmp_path: Path) -> dict[str, str]:
    vendors = tmp_path / "vendors"
    vendors.mkdir()
    whoop = (ROOT / "vendors/whoop.yaml").read_text()
    # the vendor's limit scaled down (the simulator enforces the same), a short request timeout
    whoop = whoop.replace("{per: app, requests: 100, window: 1m}", "{per: app, requests: 20, window: 1s}")
    whoop = whoop.replace("timeout_s: 30", "timeout_s: 1")
    whoop = whoop.replace("max_attempts: 6, base_s: 1, cap_s: 120", "max_attempts: 6, base_s: 0.05, cap_s: 0.2")
    (vendors / "whoop.yaml").write_text(whoop)
    (vendors / "poll_only_glucose.yaml").write_bytes((ROOT / "tests/specs/poll_only_glucose.yaml").read_bytes())
    return {**sim.env(), "ENGINE_VENDORS_DIR": str(vendors), "ENGINE_DATA_DIR": str(tmp_path / "data"),
            "ENGINE_API_KEY": API_KEY, "ENGINE_PUBLIC_URL": PUBLIC_URL, "ENGINE_SECRET_KEY": SECRET_KEY}


async def all_samples(client, user: str, sample_type: str) -> list[dict]:
    out, cursor = [], None
    while True:
        params = {"type": sample_type, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        body = (await client.get(f"/v1/users/{user}/samples", params=params, headers=AUTH)).json()
        out.extend(body["samples"])
        cursor = body["next_cursor"]
        if not cursor:
            return out


@pytest.mark.slow  # real retry backoff on injected faults: about 5 s of real time
async def test_90_day_backfill_with_faults_equals_ground_truth(env, sim, clock):
    vendor_user = sim.state.add_user("whoop", days=90)
    sim.state.set_limit("whoop", requests=20, window_s=1)
    async with engine_app({**env, "ENGINE_INITIAL_SYNC": "0"}, clock) as (engine, client):
        assert (await connect(client, "whoop", "user-1")).status_code == 200
        since = (datetime.now(UTC) - timedelta(days=91)).date().isoformat()
        started = await client.post("/v1/users/user-1/connections/whoop/sync",
                                    json={"since": since, "resources": ["sleep", "cycle"]}, headers=AUTH)
        assert started.status_code == 202, started.text
        sync = started.json()
        assert sync["windows_total"] == 8 and sync["resources"]["sleep"]["windows"] == 4

        sleep_path = "/developer/v2/activity/sleep"
        sim.state.inject("whoop", sleep_path, "unavailable", times=1, retry_after=1)
        sim.state.inject("whoop", sleep_path, "server_error", times=3, status=502)
        sim.state.inject("whoop", "/developer/v2/cycle", "timeout", times=2, seconds=3)
        sim.state.inject("whoop", "/developer/v2/cycle", "malformed_json", times=2)
        sim.state.inject("whoop", sleep_path, "unauthorized", times=1)  # token expiring mid-backfill

        # a worker dies holding the first job: its lease lapses and another worker runs it
        held = await engine.store.claim("doomed-worker", lease_s=0.5)
        assert held is not None
        await asyncio.sleep(0.6)
        await drain(engine)

        truth_sleeps = sim.state.records("whoop", "sleep", vendor_user.key)
        truth_cycles = [c for c in sim.state.records("whoop", "cycle", vendor_user.key) if c["end"]]
        sessions = await all_samples(client, "user-1", "sleep_session")
        assert sorted(s["provenance"]["vendor_record_id"] for s in sessions) == sorted(r["id"] for r in truth_sleeps)
        energy = await all_samples(client, "user-1", "total_energy")
        assert sorted(s["provenance"]["vendor_record_id"] for s in energy) == sorted(str(c["id"]) for c in truth_cycles)
        assert sim.state.served_429("whoop") == 0
        assert sim.state.counters["whoop.faults.unavailable"] == 1
        assert sim.state.counters["whoop.faults.unauthorized"] == 1

        progress = (await client.get(f"/v1/syncs/{sync['sync_id']}", headers=AUTH)).json()
        assert progress["state"] == "done" and progress["errors"] == 0
        assert progress["windows_done"] == 8
        assert progress["records"] >= len(truth_sleeps) + len(truth_cycles)
        assert (await client.get("/v1/jobs", params={"state": "dead"}, headers=AUTH)).json()["jobs"] == []


async def test_sync_range_past_the_horizon_is_clipped_and_bad_input_is_400(env, sim, clock):
    sim.state.add_user("whoop", days=3)
    # a vendor that keeps only ten days of sleep history
    spec_file = Path(env["ENGINE_VENDORS_DIR"]) / "whoop.yaml"
    text = spec_file.read_text()
    sleep_window = '/v2/activity/sleep, params: {start: "{window.start}", end: "{window.end}", limit: 25}}'
    sleep_window += "\n      records: records\n      paginate: {type: cursor, next: next_token, param: nextToken}"
    sleep_window += "\n      window: {max: 30d, format: iso}"
    assert text.count(sleep_window) == 1
    spec_file.write_text(text.replace(sleep_window, sleep_window + "\n      horizon: 10d"))
    async with engine_app({**env, "ENGINE_INITIAL_SYNC": "0"}, clock) as (engine, client):
        await connect(client, "whoop", "user-1")
        assert engine.specs["whoop"].resources["sleep"].list.horizon_s == 10 * 86400
        started = await client.post("/v1/users/user-1/connections/whoop/sync",
                                    json={"since": "2020-01-01", "resources": ["sleep"]}, headers=AUTH)
        assert started.status_code == 202
        assert started.json()["clipped"] is True and "sleep" in started.json()["clipped_note"]
        for body in ({}, {"since": "yesterday"}, {"since": "2024-01-01", "resources": ["nope"]},
                     {"since": "2024-01-01T00:00:00"}, {"since": "2030-01-01"}):
            bad = await client.post("/v1/users/user-1/connections/whoop/sync", json=body, headers=AUTH)
            assert bad.status_code == 400, (body, bad.text)
        missing = await client.post("/v1/users/nobody/connections/whoop/sync", json={"since": "2024-01-01"},
                                    headers=AUTH)
        assert missing.status_code == 404
        assert (await client.get("/v1/syncs/sync_nope", headers=AUTH)).status_code == 404
        assert (await client.get("/v1/users/user-1/samples", params={"limit": "x"}, headers=AUTH)).status_code == 400


async def test_poll_only_vendor_gets_new_samples_by_polling(env, sim, clock):
    vendor_user = sim.state.add_user("dexcom", days=2)
    async with engine_app(env, clock) as (engine, client):
        assert (await connect(client, "poll_only_glucose", "user-1")).status_code == 200
        await drain(engine)  # the initial sync (one day)
        initial = await all_samples(client, "user-1", "glucose")
        assert initial

        now = clock() - 0.2
        template = sim.state.records("dexcom", "egvs", vendor_user.key)[-1]
        fresh = copy.deepcopy(template)
        fresh.update(recordId="fresh-egv-1", value=123,
                     systemTime=datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        sim.state.add_record("dexcom", "egvs", vendor_user.key, Record("fresh-egv-1", now, now, fresh))

        await asyncio.sleep(1.1)  # one poll interval
        scheduler = Scheduler(engine, tick_s=0.1)
        assert await scheduler.tick() >= 1
        assert await scheduler.tick() == 0  # one poll per interval, however often the scheduler ticks
        await drain(engine)
        after = await all_samples(client, "user-1", "glucose")
        new = [s for s in after if s["provenance"]["vendor_record_id"] == "fresh-egv-1"]
        assert len(new) == 1 and new[0]["mg_dl"] == 123
        assert len(after) == len(initial) + 1

        export = await client.get("/v1/users/user-1/samples", params={"format": "ndjson"}, headers=AUTH)
        assert export.status_code == 200
        assert len(export.text.strip().splitlines()) == len(after)

        gone = await client.delete("/v1/users/user-1", headers=AUTH)
        assert gone.status_code == 200, gone.text
        assert await all_samples(client, "user-1", "glucose") == []
        assert await engine.store.get_connection("poll_only_glucose", "user-1") is None
