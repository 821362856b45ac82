"""Benchmark 4: budget use — achieved request rate against a vendor limit of N per window.

The vendor simulator enforces a scaled-down fixed window (N requests per W seconds) on WHOOP;
the spec declares the same budget. Four fetch workers (concurrent tasks, each with its own
fetcher and rate governor, sharing the SQLite budget rows) page through a user's sleep data
over and over. Goal: at least 90% of N per window, and not a single 429.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import VENDORS, Row, unavailable
from engine.spec.loader import load_spec
from engine.spec.model import Budget

WORKERS = 4
GOAL = 0.9


async def _worker(fetcher, caller, resource, window, stop_at: float) -> None:
    while time.monotonic() < stop_at:
        async for _page in fetcher.pages(caller, resource, window):
            if time.monotonic() >= stop_at:
                return


async def _measure(base_url: str, env: dict[str, str], token: str, requests: int, window_s: int,
                   seconds: float) -> tuple[int, float]:
    from engine.fetch.fetcher import Caller, Fetcher
    from engine.fetch.windows import TimeWindow
    from engine.http import create_http_client
    from engine.store import open_store

    spec = load_spec(VENDORS / "whoop.yaml", env=env)
    spec = replace(spec, limits=replace(spec.limits, budgets=(Budget("app", requests, window_s),)))
    resource = spec.resources["sleep"]
    now = datetime.now(UTC)
    window = TimeWindow(now - timedelta(days=29), now)

    async def token_source(*, force_refresh: bool = False) -> str:
        return token

    caller = Caller(user_id="bench-user", vendor_user_id=None, token=token_source)
    with tempfile.TemporaryDirectory() as data_dir:
        store = await open_store(None, Path(data_dir), secret_keys=["bench-secret-key-0123456789abcdef"])
        try:
            async with create_http_client() as client:
                fetchers = [Fetcher(spec, client, store) for _ in range(WORKERS)]
                started = time.monotonic()
                await asyncio.gather(*(
                    _worker(f, caller, resource, window, started + seconds) for f in fetchers))
                elapsed = time.monotonic() - started
        finally:
            await store.close()
    return sum(f.stats.requests for f in fetchers), elapsed


def run(smoke: bool = False) -> list[Row]:
    goal = f">= {GOAL:.0%} of N, 0 x 429"
    try:
        from sandbox.app import create_sim
        from sandbox.server import serve_in_thread
    except ImportError as error:
        return [unavailable("4 budget use", f"vendor simulator not importable ({error})", goal)]
    requests, window_s, windows = (10, 1, 1) if smoke else (100, 10, 4)
    simulator = create_sim(["whoop"])
    with serve_in_thread(simulator) as sim:
        user = sim.state.add_user("whoop", days=30)
        token = sim.state.token_for("whoop", user.key)
        sim.state.set_limit("whoop", requests=requests, window_s=window_s, scope="app")
        sent, elapsed = asyncio.run(_measure(sim.base_url, sim.env(), token, requests, window_s,
                                             windows * window_s))
        rejected = sim.state.served_429("whoop")
    achieved = sent / elapsed * window_s
    share = achieved / requests
    return [Row(
        f"4 budget use: WHOOP limited to {requests}/{window_s}s, {WORKERS} workers, {elapsed:.0f}s",
        f"{achieved:.1f} requests per window ({sent} sent), {rejected} x 429",
        f"vendor limit N = {requests} per window", f"{share:.0%} of N", goal,
        share >= GOAL and rejected == 0,
    )]
