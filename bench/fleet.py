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
* webhook-to-stored latency (the live job done), p50/p99: in budget slots, as the vendor requests
  that took a slot between the webhook's arrival and its record's fetch (what the budget made it
  wait, independent of the clock's compression), and in wall seconds beside it (the engine's own
  processing is not compressed, so at time / 30 each of its milliseconds counts 30 times as many
  slots as it would against the real budget).
"""

from __future__ import annotations

import asyncio
import math
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bench.common import VENDORS, Row, unavailable

if TYPE_CHECKING:
    from sandbox.state import Call

SCALE = 30.0  # seconds of WHOOP's windows per second of the run
WEBHOOK_EVERY_S = 1.0
WORKER_LANES = 4
SLEEP_PATH = "/developer/v2/activity/sleep"


Budgets = tuple[tuple[int, int], tuple[int, int]]  # (requests, window seconds): per minute, per day
# The fleet run: both of WHOOP's app budgets on a clock SCALE times faster, the day squeezed further
# so that both bind at this size.
COMPRESSED: Budgets = ((100, round(60 / SCALE)), (10_000, round(86_400 / SCALE / 24)))
# The live run: WHOOP's own budgets on the real clock, a backfill saturating the minute budget.
REAL: Budgets = ((100, 60), (10_000, 86_400))
PLAN_BATCH = 50
LIVE_RUN_S = 150.0
LIVE_RUN_USERS = 100


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


def requests_ahead(calls: Sequence[Call], path: str) -> int:
    """The vendor requests that took a budget slot after a webhook arrived and before the live
    fetch of its record (`path`): the slots the live work waited, whatever the clock's scale."""
    ahead = 0
    for call in calls:
        if call.path == path:
            return ahead
        ahead += call.profile == "whoop" and call.path.startswith("/developer")
    raise AssertionError(f"the live fetch {path} was never made")


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else float("nan")


def jain(values: list[float]) -> float:
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values)) if values else 1.0


async def _fleet(users: int, budgets: Budgets, until_s: float | None = None) -> dict[str, float]:
    """Backfill `users` users' history under `budgets` with a webhook a second; with `until_s`,
    stop after that long (the live latencies are the result) instead of when every sync is done."""
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

    (minute_n, minute_s), (day_n, day_s) = budgets
    state = SimState(["whoop"])
    state.limits["whoop"] = (Window(minute_n, minute_s, "app", "minute"), Window(day_n, day_s, "app", "day"))
    with serve_in_thread(Simulator(state)) as sim, tempfile.TemporaryDirectory() as data_dir:
        spec = load_spec(VENDORS / "whoop.yaml", env=sim.env())
        limits = replace(spec.limits, budgets=(Budget("app", minute_n, minute_s, counted="fixed"),
                                               Budget("app", day_n, day_s, counted="fixed")))
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
            syncs: list[str] = []
            for first in range(0, users, PLAN_BATCH):  # concurrently, so the store commits them together
                plans = await asyncio.gather(*(engine.sync.plan("whoop", f"u{i}", since=since)
                                               for i in range(first, min(users, first + PLAN_BATCH))))
                syncs.extend(plan.sync.sync_id for plan in plans)
            latencies: list[float] = []
            slots_waited: list[int] = []
            finished: dict[str, float] = {}
            rng = random.Random(7)
            async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://e") as client:
                next_webhook = time.monotonic()
                # webhook job id -> (when its webhook was sent, vendor calls before it, the record's path)
                pending: dict[str, tuple[float, int, str]] = {}
                last_webhook_job: str | None = None
                waiting = 0  # syncs finish in about the order they were planned: the harness reads
                while waiting < users:  # the first unfinished one, not every sync, on each turn
                    if until_s is not None and time.time() - started >= until_s:
                        break
                    now = time.monotonic()
                    if now >= next_webhook:
                        person = rng.choice(people)
                        sleep = rng.choice(state.records("whoop", "sleep", person.key))
                        delivery = whoop_event(state.client("whoop").client_secret, user_id=int(person.key),
                                               object_id=sleep["id"], event_type="sleep.updated")
                        sent_at, calls_before = time.time(), len(state.calls)
                        answer = await delivery.send(client, "/v1/webhooks/whoop")
                        assert answer.status_code < 300, answer.text
                        for queued in await engine.store.list_jobs(kind=JobKind.WEBHOOK_EVENT, limit=1000,
                                                                   after_id=last_webhook_job):
                            pending[queued.id] = (sent_at, calls_before, f"{SLEEP_PATH}/{sleep['id']}")
                            last_webhook_job = queued.id
                        next_webhook = now + WEBHOOK_EVERY_S
                    for job_id, (sent_at, calls_before, path) in list(pending.items()):
                        job = await engine.store.get_job(job_id)
                        if job is not None and job.state == "done":
                            latencies.append(job.updated_at - sent_at)
                            slots_waited.append(requests_ahead(state.calls[calls_before:], path))
                            del pending[job_id]
                    while waiting < users:
                        sync = await engine.store.get_sync(syncs[waiting])
                        if sync is None or not sync.finished:
                            break
                        finished[sync.sync_id] = sync.updated_at - started  # the store's own stamp
                        waiting += 1
                    await asyncio.sleep(0.05)
                for sync_id in syncs if until_s is None else ():  # a later sync that finished
                    sync = await engine.store.get_sync(sync_id)  # before an earlier one
                    assert sync is not None
                    finished[sync_id] = sync.updated_at - started
            elapsed = max(finished.values(), default=time.time() - started)
            stop.set()
            await running
            data_requests = len(state.calls_to("whoop", "/developer")) - data_calls_before
            rejected = state.served_429("whoop")
    slot_s = minute_s / minute_n  # a slot of the budget the backfill saturates
    floor = theoretical_minimum_s(data_requests, budgets, start=started)
    return {"elapsed": elapsed, "floor": floor, "requests": data_requests, "rejected": rejected,
            "jain": jain(list(finished.values())), "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99), "ahead_p50": percentile(slots_waited, 0.5),
            "ahead_p99": percentile(slots_waited, 0.99),
            "slot": slot_s, "webhooks": len(latencies), "started": started}


def run(smoke: bool = False) -> list[Row]:
    goal = "<= 1.05x the minimum, Jain >= 0.9, 0 x 429"
    live_goal = "webhook to stored p99 <= 2 budget slots while the backfill saturates the budget"
    try:
        import sandbox  # noqa: F401
    except ImportError as error:
        return [unavailable("fleet backfill", f"sandbox not importable ({error})", goal)]
    users = 4 if smoke else 2000
    fleet = asyncio.run(_fleet(users, COMPRESSED))
    ratio = fleet["elapsed"] / fleet["floor"] if fleet["floor"] > 0 else float("nan")
    live_users, live_s = (4, 3.0) if smoke else (LIVE_RUN_USERS, LIVE_RUN_S)
    live = asyncio.run(_fleet(live_users, REAL, until_s=live_s))
    (minute_n, minute_s), _ = REAL
    windows = math.floor((live["started"] + live_s) / minute_s) - math.floor(live["started"] / minute_s) + 1
    return [
        Row(f"fleet: {users} users x 30 days of WHOOP, both app budgets (time / {SCALE:g}), 1 webhook/s",
            f"{fleet['elapsed']:.1f} s for {fleet['requests']:,} requests, Jain {fleet['jain']:.2f}, "
            f"{fleet['rejected']} x 429; webhooks: slots taken ahead of the live fetch p50 "
            f"{fleet['ahead_p50']:g} / p99 {fleet['ahead_p99']:g}, to stored p50 {fleet['p50']:.2f} s / p99 "
            f"{fleet['p99']:.2f} s ({fleet['webhooks']} webhooks)",
            f"theoretical minimum {fleet['floor']:.1f} s under both budgets", f"{ratio:.2f}x", goal,
            ratio <= 1.05 and fleet["jain"] >= 0.9 and fleet["rejected"] == 0),
        Row(f"live: 1 webhook/s for {live_s:g} s while {live_users} users backfill against WHOOP's own "
            f"budgets ({minute_n}/min, real clock)",
            f"webhook to stored p50 {live['p50']:.3f} s / p99 {live['p99']:.3f} s ({live['webhooks']} webhooks; "
            f"slots taken ahead p50 {live['ahead_p50']:g} / p99 {live['ahead_p99']:g}); {live['requests']:,} "
            f"requests of the {minute_n * windows:,} the budget allowed, {live['rejected']} x 429",
            f"a budget slot: {live['slot']:.2f} s", f"{live['p99'] / live['slot']:.2f} slots", live_goal,
            live["p99"] <= 2 * live["slot"]),
    ]
