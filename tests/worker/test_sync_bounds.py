"""A sync is bounded work: its range is clamped to each resource's history horizon (two years when
the spec names none), the answer says so, and one request never queues more than
`MAX_SYNC_WINDOWS` windows. Finding: a whoop sync since 0001-01-01 queued 98,664 jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.cli import main
from engine.spec.model import DEFAULT_HORIZON_S, MAX_SYNC_WINDOWS
from sandbox.app import Simulator
from sandbox.server import RunningSim, serve_in_thread
from sandbox.state import SimState
from tests.auth.harness import API_KEY, Clock, connect
from tests.e2e.helpers import engine_app

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {API_KEY}"}
WHOOP_RESOURCES = ("recovery", "sleep", "workout", "cycle")  # 30-day windows, no horizon in the spec
SYNC = "/v1/users/user-1/connections/whoop/sync"


@pytest.fixture
def sim(clock: Clock) -> Iterator[RunningSim]:
    with serve_in_thread(Simulator(SimState(["whoop"], clock=clock))) as running:
        running.state.add_user("whoop", days=3)
        yield running



def test_whoop_lists_carry_the_default_horizon(env, clock):
    async def run() -> None:
        async with engine_app(env, clock) as (engine, _client):
            for name in WHOOP_RESOURCES:
                assert engine.specs["whoop"].resources[name].list.horizon_s == DEFAULT_HORIZON_S

    asyncio.run(run())


def test_a_sync_since_year_one_is_clamped_to_the_horizon(env, sim, clock):
    async def run() -> None:
        async with engine_app(env, clock) as (engine, client):
            assert (await connect(client, "whoop", "user-1")).status_code == 200
            plan = await engine.sync.plan(
                "whoop", "user-1", since=datetime(1, 1, 1, tzinfo=UTC))
            floor = datetime.fromtimestamp(clock(), UTC) - timedelta(seconds=DEFAULT_HORIZON_S)
            assert plan.sync.windows_total == 4 * 25  # 730 days in 30-day windows, per resource
            assert set(plan.clamped) == set(WHOOP_RESOURCES)
            for name in WHOOP_RESOURCES:
                assert abs((plan.since[name] - floor).total_seconds()) < 5
            assert plan.requested_since == datetime(1, 1, 1, tzinfo=UTC)
            assert (await engine.store.count_jobs())["queued"] == 100
            clamp = plan.sync.detail["clamped"]
            assert clamp["reason"] == "history_horizon" and clamp["requested_since"].startswith("0001-01-01")
            assert clamp["resources"]["sleep"]["horizon"] == "730d"
            assert plan.sync.clipped_note and "horizon" in plan.sync.clipped_note

    asyncio.run(run())


def test_the_sync_answer_says_it_was_clamped(env, sim, clock):
    async def run() -> None:
        async with engine_app(env, clock) as (_engine, client):
            assert (await connect(client, "whoop", "user-1")).status_code == 200
            started = await client.post(SYNC, json={"since": "2000-01-01"}, headers=AUTH)
            assert started.status_code == 202, started.text
            answer = started.json()
            assert answer["windows_total"] == 100
            assert answer["clipped"] is True and "history horizon" in answer["clipped_note"]
            clamp = answer["detail"]["clamped"]
            assert clamp["reason"] == "history_horizon"
            assert set(clamp["resources"]) == set(WHOOP_RESOURCES)
            floor = datetime.fromtimestamp(clock(), UTC) - timedelta(seconds=DEFAULT_HORIZON_S)
            since = datetime.fromisoformat(clamp["since"])
            assert abs((since - floor).total_seconds()) < 5
            assert answer["resources"]["sleep"]["windows"] == 25
            # Within the horizon nothing is clamped.
            recent = (datetime.now(UTC) - timedelta(days=40)).date().isoformat()
            inside = (await client.post(SYNC, json={"since": recent, "resources": ["sleep"]},
                                        headers=AUTH)).json()
            assert inside["clipped"] is False and "clamped" not in inside["detail"]
            # A range that ends before the horizon begins queues nothing, and says why.
            old = await client.post(SYNC, json={"since": "2000-01-01", "until": "2001-01-01"}, headers=AUTH)
            assert old.status_code == 202 and old.json()["windows_total"] == 0
            assert old.json()["clipped"] is True

    asyncio.run(run())


def test_a_sync_over_the_window_cap_is_refused_and_queues_nothing(env, sim, clock, monkeypatch):
    monkeypatch.setattr("engine.worker.sync.MAX_SYNC_WINDOWS", 60)

    async def run() -> None:
        async with engine_app(env, clock) as (engine, client):
            assert (await connect(client, "whoop", "user-1")).status_code == 200
            refused = await client.post(SYNC, json={"since": "2000-01-01"}, headers=AUTH)
            assert refused.status_code == 400, refused.text
            error = refused.json()["error"]
            assert error["code"] == "sync_too_large" and error["vendor"] == "whoop"
            assert "100 windows" in error["message"] and "at most 60" in error["message"]
            assert sum((await engine.store.count_jobs()).values()) == 0
            fits = await client.post(SYNC, json={"since": "2000-01-01", "resources": ["sleep", "cycle"]},
                                     headers=AUTH)
            assert fits.status_code == 202 and fits.json()["windows_total"] == 50

    asyncio.run(run())


def test_the_cap_is_a_thousand_windows():
    assert MAX_SYNC_WINDOWS == 1000


@pytest.mark.slow  # waits on WHOOP's real budget (100 a minute): about 11 s of real time
def test_the_sync_command_prints_the_clamp(env, sim, clock, capsys):
    async def setup() -> None:
        async with engine_app(env, clock) as (_engine, client):
            assert (await connect(client, "whoop", "user-1")).status_code == 200

    asyncio.run(setup())
    code = main(["sync", "whoop", "user-1", "--since", "2015-01-01", "--resources", "sleep"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "25 window(s) (sleep 25)" in err
    assert "engine sync: clamped:" in err and "sleep (horizon 730d)" in err
    assert "Traceback" not in err
