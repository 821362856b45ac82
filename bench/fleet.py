"""Benchmark: a fleet of users backfilling against WHOOP's two app budgets, with live webhooks.

The sandbox enforces both of WHOOP's app limits (per minute and per day), scaled down in time by
the same factor so the run takes minutes, and the spec declares the same budgets, counted in fixed
windows as the simulator counts them. Every user's 30 days of history is planned while the workers
already run the queue, and a signed webhook arrives every second for a random user. Measured:

* completion time (the first plan to the last sync's own finishing stamp) against the theoretical
  minimum under both fixed-window budgets for the requests actually made, from the run's start
  (every window's quota spent the moment it opens; `theoretical_minimum_s`);
* Jain's fairness index over the users' completion times (1.0: all finish together);
* 429s served by the sandbox;
* webhook-to-stored latency (the live job done), p50/p99, in budget slots of the tighter budget.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bench.common import VENDORS, Row, unavailable

SCALE = 30.0  # seconds of WHOOP's windows per second of the run
WEBHOOK_EVERY_S = 1.0
WORKER_LANES = 4


def _budgets() -> tuple[tuple[int, float], tuple[int, float]]:
    minute = (100, 60 / SCALE)
    day = (10_000, 86_400 / SCALE / 24)  # the day budget squeezed further so both bind at this size
    return minute, day


def theoretical_minimum_s(requests: int, windows: tuple[tuple[int, float], ...], start: float = 0.0) -> float:
    """Fixed windows, as the simulator counts them (each starting at a multiple of its length):
    the soonest the last of `requests` can go when every window's quota is spent the moment the
    window opens, from `start` on. With `start` on a boundary of every window this is
    ceil(R / N) - 1 whole windows of the tightest budget; a start inside a window gains the rest
    of that window's quota early."""
    at, left = start, requests
    used: dict[tuple[int, int], int] = {}
    while True:
        current = [(i, math.floor(at / length)) for i, (_, length) in enumerate(windows)]
        free = min(quota - used.get(key, 0) for key, (quota, _) in zip(current, windows, strict=True))
        if free >= left:
            return at - start
        for key in current:
            used[key] = used.get(key, 0) + free
        left -= free
        spent = [i for (i, index), (quota, _) in zip(current, windows, strict=True)
                 if used[(i, index)] >= quota]
        at = max((current[i][1] + 1) * windows[i][1] for i in spent)


def jain(values: list[float]) -> float:
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values)) if values else 1.0


async def _fleet(users: int) -> dict[str, float]:
    import httpx2

    from engine.api.app import create_app
    from engine.api.webhooks import engine_webhook_routes
    from engine.engine import Engine, Settings
    from engine.jobs import JobKind
    from engine.spec.loader import load_spec
    from engine.spec.model import Budget
    from engine.worker.runner import WorkerConfig
    from sandbox.app import Simulator
    from sandbox.profiles import Window
    from sandbox.server import serve_in_thread
    from sandbox.state import SimState
    from sandbox.webhooks import whoop_event

    (minute_n, minute_s), (day_n, day_s) = _budgets()
    state = SimState(["whoop"])
    state.limits["whoop"] = (Window(minute_n, int(minute_s) or 1, "app", "minute"),
                             Window(day_n, int(day_s), "app", "day"))
    with serve_in_thread(Simulator(state)) as sim, tempfile.TemporaryDirectory() as data_dir:
        spec = load_spec(VENDORS / "whoop.yaml", env=sim.env())
        limits = replace(spec.limits, budgets=(Budget("app", minute_n, int(minute_s) or 1, counted="fixed"),
                                               Budget("app", day_n, int(day_s), counted="fixed")))
        spec = replace(spec, limits=limits)
        env = {**sim.env(), "ENGINE_DATA_DIR": data_dir, "ENGINE_VENDORS_DIR": str(VENDORS),
               "ENGINE_INITIAL_SYNC": "0", "ENGINE_PUBLIC_URL": "http://127.0.0.1:9"}
        async with Engine(Settings.from_env(env), specs={"whoop": spec}) as engine:
            people = []
            for index in range(users):
                person = state.add_user("whoop", days=30)
                await engine.store.upsert_connection(
                    "whoop", f"u{index}", vendor_user_id=person.key, scopes=list(spec.auth.scopes),
                    access_token=state.token_for("whoop", person.key), refresh_token=None,
                    token_expires_at=None)
                people.append(person)
            data_calls_before = len(state.calls_to("whoop", "/developer"))
            since = datetime.now(UTC) - timedelta(days=29)
            app = create_app(engine, extra_public_routes=engine_webhook_routes(engine))
            stop = asyncio.Event()
            worker = engine.worker(WorkerConfig(concurrency=WORKER_LANES, poll_s=0.05))
            running = asyncio.create_task(worker.run(stop))
            started = time.time()  # the workers run while the syncs are planned
            syncs = [(await engine.sync.plan("whoop", f"u{i}", since=since)).sync.sync_id for i in range(users)]
            planned_s = time.time() - started
            latencies: list[float] = []
            finished: dict[str, float] = {}
            rng = random.Random(7)
            async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://e") as client:
                next_webhook = time.monotonic()
                pending: dict[str, float] = {}  # webhook job id -> when its webhook was sent
                last_webhook_job: str | None = None
                waiting = 0  # syncs finish in about the order they were planned: the harness reads
                while waiting < users:  # the first unfinished one, not every sync, on each turn
                    now = time.monotonic()
                    if now >= next_webhook:
                        person = rng.choice(people)
                        sleep = rng.choice(state.records("whoop", "sleep", person.key))
                        delivery = whoop_event(state.client("whoop").client_secret, user_id=int(person.key),
                                               object_id=sleep["id"], event_type="sleep.updated")
                        sent_at = time.time()
                        answer = await delivery.send(client, "/v1/webhooks/whoop")
                        assert answer.status_code < 300, answer.text
                        for queued in await engine.store.list_jobs(kind=JobKind.WEBHOOK_EVENT, limit=1000,
                                                                   after_id=last_webhook_job):
                            pending[queued.id] = sent_at
                            last_webhook_job = queued.id
                        next_webhook = now + WEBHOOK_EVERY_S
                    for job_id, sent_at in list(pending.items()):
                        job = await engine.store.get_job(job_id)
                        if job is not None and job.state == "done":
                            latencies.append(job.updated_at - sent_at)
                            del pending[job_id]
                    while waiting < users:
                        sync = await engine.store.get_sync(syncs[waiting])
                        if sync is None or not sync.finished:
                            break
                        finished[sync.sync_id] = sync.updated_at - started  # the store's own stamp
                        waiting += 1
                    await asyncio.sleep(0.05)
                for sync_id in syncs:  # a later sync that finished before an earlier one
                    sync = await engine.store.get_sync(sync_id)
                    assert sync is not None
                    finished[sync_id] = sync.updated_at - started
            elapsed = max(finished.values())
            stop.set()
            await running
            data_requests = len(state.calls_to("whoop", "/developer")) - data_calls_before
            rejected = state.served_429("whoop")
    slot_s = max(minute_s / minute_n, day_s / day_n)
    floor = theoretical_minimum_s(data_requests, ((minute_n, minute_s), (day_n, day_s)), start=started)
    return {"elapsed": elapsed, "floor": floor, "requests": data_requests, "rejected": rejected,
            "jain": jain(list(finished.values())), "p50": statistics.median(latencies) if latencies else float("nan"),
            "p99": (sorted(latencies)[max(0, math.ceil(0.99 * len(latencies)) - 1)] if latencies else float("nan")),
            "slot": slot_s, "webhooks": len(latencies), "planned": planned_s,
            "aligned_floor": theoretical_minimum_s(data_requests, ((minute_n, minute_s), (day_n, day_s)))}


def run(smoke: bool = False) -> list[Row]:
    goal = "<= 1.05x the minimum, Jain >= 0.9, 0 x 429, webhook p99 <= 2 slots"
    try:
        import sandbox  # noqa: F401
    except ImportError as error:
        return [unavailable("fleet backfill", f"sandbox not importable ({error})", goal)]
    users = 4 if smoke else 2000
    result = asyncio.run(_fleet(users))
    ratio = result["elapsed"] / result["floor"] if result["floor"] > 0 else float("nan")
    p99_slots = result["p99"] / result["slot"]
    met = ratio <= 1.05 and result["jain"] >= 0.9 and result["rejected"] == 0 and p99_slots <= 2
    return [Row(
        f"fleet: {users} users x 30 days of WHOOP, both app budgets (time / {SCALE:g}), 1 webhook/s",
        f"{result['elapsed']:.1f} s for {result['requests']:,} requests, Jain {result['jain']:.2f}, "
        f"{result['rejected']} x 429, webhook p50 {result['p50']:.2f} s / p99 {result['p99']:.2f} s "
        f"({p99_slots:.1f} slots, {result['webhooks']} webhooks)",
        f"theoretical minimum {result['floor']:.1f} s under both budgets", f"{ratio:.2f}x", goal, met)]
