"""Synthetic people whose data happens over time: the sandbox's own clock of life.

A person's records come from the same deterministic timeline as any sandbox user, but a record
exists at the vendor only once its moment has passed on the *life clock*: it starts `backlog_s`
before the real start and runs `speed` times faster than real time until it reaches the present,
then keeps pace with it (data never lies in the future). When a record happens, the vendor's own
notification for it (signed as the vendor signs it) is sent over HTTP to the subscriber.

Scripted incidents happen at fixed moments of life: one person's authorization is revoked at the
vendor, and one vendor answers 429 for a minute of life. Everything is deterministic for a seed;
only the wall clock decides how far life has got.

Protocol time (token lifetimes, signature timestamps, rate windows) stays the real time, as a
vendor's would: only *when the data happened* is simulated.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx2

from sandbox.datasets import generate
from sandbox.state import Record, SimState, SimUser
from sandbox.webhooks import notification_for

log = logging.getLogger("sandbox.life")

TICK_S = 0.2
RATE_LIMITED_LIFE_S = 60.0  # "one vendor returns 429s for a simulated minute"
# Resources whose changes each vendor announces by webhook (from the vendors' webhook docs); other
# records appear silently and reach the subscriber by its polls.
NOTIFIED: dict[str, frozenset[str]] = {
    "whoop": frozenset({"sleep", "workout", "recovery"}),
    "oura": frozenset({"workout", "session", "sleep", "daily_sleep", "daily_readiness",
                       "daily_activity", "daily_spo2", "sleep_time", "daily_stress"}),
    "polar": frozenset({"exercises", "sleep", "activities", "continuous_heart_rate",
                        "nightly_recharge"}),
    "withings": frozenset({"measures", "activity", "workouts", "sleep"}),
    "strava": frozenset({"activities"}),
    "garmin": frozenset({"dailies", "sleeps", "activities", "epochs", "bodyComps", "hrv"}),
    "google_health": frozenset({"sleep", "exercise", "steps", "heart-rate", "weight"}),
    "wahoo": frozenset({"workouts"}),
    "coros": frozenset({"sport"}),
    "suunto": frozenset({"workouts", "sleep", "recovery"}),
}


@dataclass(order=True)
class Happening:
    at: float  # life time when the record exists at the vendor
    profile: str = field(compare=False)
    user_key: str = field(compare=False)
    resource: str = field(compare=False)
    record: Record = field(compare=False, repr=False)


@dataclass
class LifeCounters:
    happened: int = 0
    sent: int = 0
    delivered_2xx: int = 0
    refused: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    revoked: list[tuple[str, str]] = field(default_factory=list)
    rate_limited: list[str] = field(default_factory=list)


class Life:
    """Drives a sandbox's people forward on the life clock; `start()` runs it in a thread."""

    def __init__(self, state: SimState, *, speed: float = 60.0, backlog_s: float = 86_400.0,
                 seed: int = 0, target: Callable[[str], str | None],
                 clock: Callable[[], float] = time.time) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.state = state
        self.speed = speed
        self.target = target  # profile -> the subscriber URL it delivers to (None: no webhooks)
        self.clock = clock
        self.real_start = clock()
        self.life_start = self.real_start - backlog_s
        self.rng = random.Random(f"life:{seed}")
        self.counters = LifeCounters()
        self._queue: list[Happening] = []  # a heap by `at`: thousands of heart-rate points per person
        self._incidents: list[tuple[float, Callable[[], None]]] = []
        self._faults_until: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx2.Client(timeout=10.0)

    # ------------------------------------------------------------------ time

    def now(self) -> float:
        """The life clock: `speed`× real time from `backlog_s` ago, never past the present."""
        real = self.clock()
        return min(self.life_start + (real - self.real_start) * self.speed, real)

    def life_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    # ------------------------------------------------------------------ people

    def add_person(self, profile: str, *, days: int = 14, seed: int | None = None) -> SimUser:
        """A vendor user whose history up to the life clock exists now and whose later records
        (to the end of today) happen as life goes on."""
        anchor = (datetime.fromtimestamp(self.real_start, UTC) + timedelta(days=1)).date()
        user = self.state.add_user(profile, seed=seed if seed is not None else self.rng.randrange(10**6),
                                   days=days + 1)
        user.anchor = anchor  # the timeline runs to the end of today; the future is held back
        dataset = generate(user)
        present = self.now()
        visible: dict[str, list[Record]] = {}
        for resource, records in dataset.items():
            visible[resource] = []
            for record in records:
                at = max(record.start, record.end)
                if at <= present:
                    visible[resource].append(record)
                else:
                    heapq.heappush(self._queue, Happening(at, profile, user.key, resource, record))
        self.state.set_dataset(profile, user.key, visible)
        return user

    def busiest(self, life_offset_s: float, span_s: float = 12 * 3600) -> tuple[str, str] | None:
        """The (profile, user) with the most announced records in that stretch of life: an
        incident there is noticed soon (deterministic: ties go to the first in order)."""
        start = self.life_start + life_offset_s
        counts: Counter[tuple[str, str]] = Counter(
            (h.profile, h.user_key) for h in self._queue
            if start <= h.at < start + span_s and h.resource in NOTIFIED.get(h.profile, frozenset()))
        return max(counts, key=lambda key: (counts[key], key)) if counts else None

    def revoke_at(self, life_offset_s: float, profile: str, user_key: str) -> None:
        """At that moment of life the person withdraws the app's access at the vendor."""
        def revoke() -> None:
            self.state.revoke_user(profile, user_key)
            self.counters.revoked.append((profile, user_key))
            log.info("revoked %s user %s", profile, user_key)
        self._incidents.append((self.life_start + life_offset_s, revoke))

    def rate_limit_at(self, life_offset_s: float, profile: str) -> None:
        """From that moment of life, the vendor answers 429 for a minute of life."""
        def limit() -> None:
            self.state.inject(profile, "", "rate_limited", times=10**9, retry_after=1)
            self._faults_until[profile] = self.now() + RATE_LIMITED_LIFE_S
            self.counters.rate_limited.append(profile)
        self._incidents.append((self.life_start + life_offset_s, limit))

    # ------------------------------------------------------------------ running

    def step(self) -> int:
        """Make everything due on the life clock happen; returns how many records appeared."""
        present = self.now()
        for entry in [i for i in self._incidents if i[0] <= present]:
            self._incidents.remove(entry)
            entry[1]()
        for profile, until in list(self._faults_until.items()):
            if present >= until:
                with self.state.lock:
                    self.state.faults = [f for f in self.state.faults
                                         if not (f.profile == profile and f.kind == "rate_limited")]
                del self._faults_until[profile]
        happened = 0
        while self._queue and self._queue[0].at <= present:
            item = heapq.heappop(self._queue)
            self.state.add_record(item.profile, item.resource, item.user_key, item.record)
            happened += 1
            self._notify(item)
        self.counters.happened += happened
        return happened

    def _notify(self, item: Happening) -> None:
        url = self.target(item.profile)
        if url is None or item.resource not in NOTIFIED.get(item.profile, frozenset()):
            return
        try:
            delivery = notification_for(self.state, item.profile, item.resource, item.user_key,
                                        item.record, "create")
        except (KeyError, ValueError, TypeError) as error:  # this vendor does not announce it
            log.debug("no notification for %s/%s: %s", item.profile, item.resource, error)
            return
        self.counters.sent += 1
        try:
            answer = delivery.send_sync(url, self._http)
        except httpx2.HTTPError as error:
            self.counters.errors += 1
            log.warning("delivery to %s failed: %s", url, error)
            return
        if 200 <= answer.status_code < 300:
            self.counters.delivered_2xx += 1
        else:
            self.counters.refused[answer.status_code] += 1

    def start(self) -> Life:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.step()
                except Exception:  # one bad happening must not stop the sandbox's life
                    log.exception("sandbox life step failed")
                self._stop.wait(TICK_S)

        self._thread = threading.Thread(target=loop, name="sandbox life", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http.close()
