"""A user's vendor-neutral life (nights, workouts, daily totals) derived from a seed.

Every vendor dataset renders the same timeline in its own shapes, so one seed gives consistent
data across vendors and across runs.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sandbox.timefmt import midnight_utc

SPORTS = ("running", "cycling", "walking", "strength", "swimming")


@dataclass(frozen=True)
class Night:
    day: date  # the local date of waking up
    start: float
    end: float
    latency_s: int
    deep_s: int
    light_s: int
    rem_s: int
    awake_s: int
    avg_hr: int
    low_hr: int
    hrv_ms: int
    breath: float
    spo2: float
    temp_dev: float
    score: int
    nap: bool = False

    @property
    def asleep_s(self) -> int:
        return self.deep_s + self.light_s + self.rem_s

    @property
    def in_bed_s(self) -> int:
        return int(self.end - self.start)

    @property
    def efficiency(self) -> int:
        return max(1, min(100, round(100 * self.asleep_s / self.in_bed_s)))


@dataclass(frozen=True)
class Workout:
    start: float
    end: float
    sport: str
    avg_hr: int
    max_hr: int
    kcal: int
    distance_m: int


@dataclass(frozen=True)
class Day:
    day: date
    local_midnight: float  # UTC epoch of 00:00 local
    steps: int
    active_kcal: int
    total_kcal: int
    distance_m: int
    resting_hr: int
    readiness: int
    weight_kg: float
    fat_pct: float


class Timeline:
    def __init__(self, seed: int, days: int, anchor: date) -> None:
        self.seed = seed
        self.rng = random.Random(f"timeline:{seed}")
        self.offset_s = self.rng.choice([-5 * 3600, 0, 3600, 2 * 3600, 9 * 3600])
        self.nights: list[Night] = []
        self.workouts: list[Workout] = []
        self.days: list[Day] = []
        for index in range(days):
            self._make_day(anchor - timedelta(days=days - index))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _make_day(self, day: date) -> None:
        rng = self.rng
        midnight = midnight_utc(day) - self.offset_s
        start = midnight - rng.randint(30, 100) * 60
        in_bed = rng.randint(390, 510) * 60
        latency = rng.randint(3, 25) * 60
        awake = rng.randint(10, 50) * 60 + latency
        asleep = in_bed - awake
        deep = int(asleep * rng.uniform(0.15, 0.22))
        rem = int(asleep * rng.uniform(0.18, 0.25))
        light = asleep - deep - rem
        self.nights.append(Night(
            day, start, start + in_bed, latency, deep, light, rem, awake,
            avg_hr=rng.randint(50, 62), low_hr=rng.randint(42, 50), hrv_ms=rng.randint(28, 95),
            breath=round(rng.uniform(12.5, 16.5), 1), spo2=round(rng.uniform(94.5, 98.9), 1),
            temp_dev=round(rng.uniform(-0.6, 0.6), 2), score=rng.randint(55, 95)))
        if rng.random() < 0.15:
            nap_start = midnight + 14 * 3600 + rng.randint(0, 60) * 60
            dur = rng.randint(20, 40) * 60
            self.nights.append(Night(
                day, nap_start, nap_start + dur, 300, 0, dur - 600, 0, 600, 58, 52, 40, 14.0,
                96.0, 0.0, 50, nap=True))
        if rng.random() < 0.7:
            w_start = midnight + rng.randint(16 * 60, 19 * 60) * 60
            dur = rng.randint(25, 90) * 60
            sport = rng.choice(SPORTS)
            self.workouts.append(Workout(
                w_start, w_start + dur, sport, rng.randint(115, 160), rng.randint(165, 190),
                int(dur / 60 * rng.uniform(6, 11)),
                0 if sport == "strength" else int(dur / 60 * rng.uniform(90, 300))))
        steps = rng.randint(3500, 16000)
        active = int(steps * rng.uniform(0.03, 0.05))
        self.days.append(Day(
            day, midnight, steps, active, active + rng.randint(1500, 1800),
            int(steps * 0.76), rng.randint(48, 62), rng.randint(55, 95),
            round(70 + 4 * math.sin(len(self.days) / 5) + rng.uniform(-0.4, 0.4), 2),
            round(rng.uniform(16, 24), 1)))

    def heart_rate(self, ts: float) -> int:
        """Deterministic bpm at a moment (lower at night, higher during workouts)."""
        noise = ((self.seed * 1_000_003 + int(ts) // 60) * 2_654_435_761) % 9 - 4
        for workout in self.workouts:
            if workout.start <= ts < workout.end:
                return workout.avg_hr + noise
        for night in self.nights:
            if night.start <= ts < night.end:
                return night.avg_hr + noise
        local_hour = ((ts + self.offset_s) % 86_400) / 3600
        return int(68 + 10 * math.sin((local_hour - 9) / 24 * 2 * math.pi)) + noise

    def glucose(self, ts: float) -> int:
        noise = ((self.seed * 7_919 + int(ts) // 300) * 40_503) % 11 - 5
        local_hour = ((ts + self.offset_s) % 86_400) / 3600
        meals = sum(45 * math.exp(-((local_hour - h) ** 2) / 0.8) for h in (8, 13, 19.5))
        return int(95 + meals + noise)

    def sample_times(self, start: float, end: float, step_s: int) -> list[float]:
        first = math.ceil(start / step_s) * step_s
        return [float(t) for t in range(int(first), int(end), step_s)]

    @property
    def span(self) -> tuple[float, float]:
        return self.days[0].local_midnight, self.days[-1].local_midnight + 86_400
