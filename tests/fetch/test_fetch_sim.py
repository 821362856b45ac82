"""The fetcher against the vendor simulator: pagination, windows, budgets and faults."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

from engine.fetch.errors import MalformedResponse, VendorRejected, VendorUnavailable
from engine.fetch.fetcher import Caller, Fetcher
from engine.fetch.windows import plan_windows
from engine.spec.loader import load_spec
from engine.spec.model import Budget, Retry, Spec
from engine.store import open_store

ROOT = Path(__file__).resolve().parents[2]


def quick_retries(spec: Spec, **kw) -> Spec:
    retry = Retry(statuses=spec.limits.retry.statuses, max_attempts=kw.get("max_attempts", 4),
                  base_s=0.01, cap_s=0.05)
    return replace(spec, limits=replace(spec.limits, retry=retry))


@pytest.fixture
async def store(tmp_path):
    store = await open_store(None, tmp_path, secret_keys=["s" * 32])
    yield store
    await store.close()


@pytest.fixture
async def client():
    async with httpx2.AsyncClient() as http:
        yield http


def caller_for(sim, profile: str, user):
    tokens: list[str] = []

    async def token(*, force_refresh: bool = False) -> str:
        if force_refresh or not tokens:
            tokens.append(sim.state.token_for(profile, user.key))
        return tokens[-1]

    caller = Caller(user_id="app-user", vendor_user_id=str(user.vendor_id), token=token)
    return caller, tokens


async def fetch_all(fetcher: Fetcher, caller: Caller, spec: Spec, resource: str, days: int) -> list[dict]:
    res = spec.resources[resource]
    now = datetime.now(UTC)
    records: list[dict] = []
    for window in plan_windows(now - timedelta(days=days), now, res.list.window):
        async for page in fetcher.pages(caller, res, window):
            records.extend(page.records)
    return records


def whoop(sim) -> Spec:
    return quick_retries(load_spec(ROOT / "vendors/whoop.yaml", env=sim.env()))


@pytest.mark.anyio
async def test_cursor_pages_return_every_record_once(sim, store, client):
    user = sim.state.add_user("whoop", days=90)
    spec = whoop(sim)
    fetcher = Fetcher(spec, client, store)
    records = await fetch_all(fetcher, caller_for(sim, "whoop", user)[0], spec, "sleep", 91)
    truth = sim.state.records("whoop", "sleep", user.key)
    assert len(truth) > 90
    assert sorted(r["id"] for r in records) == sorted(r["id"] for r in truth)
    assert fetcher.stats.requests > len(truth) // 25  # really paginated


@pytest.mark.anyio
async def test_window_only_resource_returns_every_record_once(sim, store, client):
    user = sim.state.add_user("dexcom", days=90)
    spec = quick_retries(load_spec(ROOT / "vendors/dexcom.yaml", env=sim.env()))
    fetcher = Fetcher(spec, client, store)
    records = await fetch_all(fetcher, caller_for(sim, "dexcom", user)[0], spec, "egvs", 91)
    truth = sim.state.records("dexcom", "egvs", user.key)
    assert len(truth) > 20_000
    ids = [r["recordId"] for r in records]
    assert len(ids) == len(set(ids)) and set(ids) == {r["recordId"] for r in truth}


async def _sleep_in_small_pages(sim, store, client, user, budget: Budget) -> tuple[Fetcher, list]:
    """Every sleep of `user` three to a page (many requests) under `budget` alone."""
    spec = whoop(sim)
    spec = replace(spec, limits=replace(spec.limits, budgets=(budget,)))
    fetcher = Fetcher(spec, client, store)
    caller, _tokens = caller_for(sim, "whoop", user)
    res = spec.resources["sleep"]
    res = replace(res, list=replace(res.list, request=replace(res.list.request, params=tuple(
        (k, v) if k != "limit" else (k, type(v)("3")) for k, v in res.list.request.params))))
    records = []
    now = datetime.now(UTC)
    async for page in fetcher.pages(caller, res, plan_windows(now - timedelta(days=61), now, None)[0]):
        records.extend(page.records)
    return fetcher, records


@pytest.mark.slow  # spends a budget at its real pace: about 3 s of real time
@pytest.mark.anyio
async def test_budget_keeps_a_limited_vendor_from_answering_429(sim, store, client):
    user = sim.state.add_user("whoop", days=60)
    sim.state.set_limit("whoop", requests=8, window_s=1)
    started = time.monotonic()
    fetcher, records = await _sleep_in_small_pages(sim, store, client, user,
                                                   Budget(per="app", requests=8, window_s=1))
    assert fetcher.stats.requests >= 16
    assert sim.state.served_429("whoop") == 0
    assert len(records) == len(sim.state.records("whoop", "sleep", user.key))
    # the pace follows the budget (8/s less headroom) rather than the network
    assert time.monotonic() - started >= (fetcher.stats.requests - 8) / 8


@pytest.mark.anyio
async def test_a_fixed_window_budget_uses_each_window_whole_without_a_429(sim, store, client):
    """The simulator counts fixed windows; a spec that says so gets each window's quota at once
    (the window's edges aside) and never a 429 — nor a block from the vendor's "0 remaining"."""
    user = sim.state.add_user("whoop", days=60)
    sim.state.set_limit("whoop", requests=8, window_s=1)
    fetcher, records = await _sleep_in_small_pages(sim, store, client, user,
                                                   Budget(per="app", requests=8, window_s=1, counted="fixed"))
    assert fetcher.stats.requests >= 16
    assert sim.state.served_429("whoop") == 0
    assert len(records) == len(sim.state.records("whoop", "sleep", user.key))


@pytest.mark.anyio
async def test_retry_after_on_503_is_honoured(sim, store, client):
    user = sim.state.add_user("whoop", days=10)
    spec = whoop(sim)
    sim.state.inject("whoop", "/developer/v2/activity/sleep", "unavailable", times=1, retry_after=1)
    fetcher = Fetcher(spec, client, store)
    started = time.monotonic()
    records = await fetch_all(fetcher, caller_for(sim, "whoop", user)[0], spec, "sleep", 11)
    assert time.monotonic() - started >= 0.95
    assert fetcher.stats.statuses.get(503) == 1
    assert {r["id"] for r in records} == {r["id"] for r in sim.state.records("whoop", "sleep", user.key)}


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["server_error", "malformed_json", "rate_limited"])
async def test_transient_faults_are_retried(sim, store, client, kind):
    user = sim.state.add_user("whoop", days=20)
    spec = whoop(sim)
    sim.state.inject("whoop", "/developer/v2/activity/sleep", kind, times=3, retry_after=0)
    fetcher = Fetcher(spec, client, store)
    records = await fetch_all(fetcher, caller_for(sim, "whoop", user)[0], spec, "sleep", 21)
    assert fetcher.stats.retries == 3
    assert sorted(r["id"] for r in records) == sorted(r["id"] for r in sim.state.records("whoop", "sleep", user.key))


@pytest.mark.anyio
async def test_timeouts_are_retried(sim, store, client):
    user = sim.state.add_user("whoop", days=5)
    spec = whoop(sim)
    spec = replace(spec, api=replace(spec.api, timeout_s=0.3))
    sim.state.inject("whoop", "/developer/v2/activity/sleep", "timeout", times=2, seconds=2)
    fetcher = Fetcher(spec, client, store)
    records = await fetch_all(fetcher, caller_for(sim, "whoop", user)[0], spec, "sleep", 6)
    assert fetcher.stats.retries == 2
    assert {r["id"] for r in records} == {r["id"] for r in sim.state.records("whoop", "sleep", user.key)}


@pytest.mark.anyio
async def test_expired_token_mid_backfill_is_refreshed_once(sim, store, client):
    user = sim.state.add_user("whoop", days=60)
    spec = whoop(sim)
    fetcher = Fetcher(spec, client, store)
    caller, tokens = caller_for(sim, "whoop", user)
    res = spec.resources["sleep"]
    now = datetime.now(UTC)
    pages = 0
    records = []
    async for page in fetcher.pages(caller, res, plan_windows(now - timedelta(days=30), now, None)[0]):
        pages += 1
        records.extend(page.records)
        if pages == 1:
            sim.state.expire_access_token(tokens[-1])
    assert fetcher.stats.refreshes == 1 and len(tokens) == 2
    assert pages >= 2


@pytest.mark.anyio
async def test_exhausted_retries_and_rejections_raise_typed_errors(sim, store, client):
    user = sim.state.add_user("whoop", days=5)
    spec = quick_retries(whoop(sim), max_attempts=2)
    fetcher = Fetcher(spec, client, store)
    caller, _tokens = caller_for(sim, "whoop", user)
    sim.state.inject("whoop", "/developer/v2/activity/sleep", "malformed_json", times=5)
    with pytest.raises(MalformedResponse, match="not valid JSON"):
        await fetch_all(fetcher, caller, spec, "sleep", 3)
    sim.state.faults.clear()
    sim.state.inject("whoop", "/developer/v2/activity/sleep", "server_error", times=5, status=502)
    with pytest.raises(VendorUnavailable):
        await fetch_all(fetcher, caller, spec, "sleep", 3)
    sim.state.faults.clear()
    with pytest.raises(VendorRejected, match="not found"):
        await fetcher.get(caller, spec.resources["sleep"], "no-such-sleep")


@pytest.mark.anyio
async def test_get_by_id_and_id_lookup(sim, store, client):
    user = sim.state.add_user("whoop", days=5)
    spec = whoop(sim)
    fetcher = Fetcher(spec, client, store)
    caller, _tokens = caller_for(sim, "whoop", user)
    sleep = next(s for s in sim.state.records("whoop", "sleep", user.key) if not s["nap"])
    (record,) = await fetcher.get(caller, spec.resources["sleep"], sleep["id"])
    assert record["id"] == sleep["id"]
    # recovery is read through the sleep's cycle (id_from)
    (recovery,) = await fetcher.get(caller, spec.resources["recovery"], sleep["id"])
    assert recovery["sleep_id"] == sleep["id"]


@pytest.mark.anyio
async def test_callback_urls_are_pinned_to_api_hosts(sim, store, client):
    from engine.fetch.errors import HostNotAllowed

    user = sim.state.add_user("whoop", days=5)
    spec = whoop(sim)
    fetcher = Fetcher(spec, client, store)
    caller, _tokens = caller_for(sim, "whoop", user)
    with pytest.raises(HostNotAllowed):
        await fetcher.get_url(caller, spec.resources["sleep"], "https://evil.example/steal")
    sleep = sim.state.records("whoop", "sleep", user.key)[0]
    records = await fetcher.get_url(caller, spec.resources["sleep"],
                                    sim.url("whoop", f"/developer/v2/activity/sleep/{sleep['id']}"))
    assert records[0]["id"] == sleep["id"]


@pytest.mark.anyio
async def test_a_retry_pause_ends_when_the_worker_stops(sim, store, client):
    """A 500 with no Retry-After waits out its backoff in place; a worker stopping meanwhile gets
    the job back at once (as a retry later), rather than sitting out the pause."""
    import asyncio

    from engine.fetch.ratelimit import end_budget_waits_on

    user = sim.state.add_user("whoop", days=2)
    base = load_spec(ROOT / "vendors/whoop.yaml", env=sim.env())
    slow = Retry(statuses=base.limits.retry.statuses, max_attempts=4, base_s=40.0, cap_s=40.0)
    spec = replace(base, limits=replace(base.limits, retry=slow))
    sim.state.inject("whoop", "/developer/v2/activity/sleep", "server_error", times=3)
    fetcher = Fetcher(spec, client, store, rand=lambda: 1.0)  # the full 40 s pause
    stop = asyncio.Event()

    async def fetch() -> None:
        with end_budget_waits_on(stop):
            await fetch_all(fetcher, caller_for(sim, "whoop", user)[0], spec, "sleep", 2)

    running = asyncio.create_task(fetch())
    async with asyncio.timeout(10):
        while not sim.state.calls_to("whoop", "/developer/v2/activity/sleep"):
            await asyncio.sleep(0.01)
    started = time.monotonic()
    stop.set()
    with pytest.raises(VendorUnavailable, match="stopping during the retry pause") as raised:
        await asyncio.wait_for(running, 5)
    assert time.monotonic() - started < 2 and raised.value.retry_after == 40.0
