"""The Samples page's series, hand-computed: a hypnogram of sleep stages (one level per stage,
held until the stage ends, broken between nights) and steps summed per local day."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.console.samples import CHARTS, build_series
from engine.store.port import StoredSample


def _sample(kind: str, start: str, end: str | None, **payload: object) -> StoredSample:
    begin = datetime.fromisoformat(start).replace(tzinfo=UTC)
    return StoredSample("u", "acme", kind, start, begin, None if end is None else datetime.fromisoformat(end).replace(
        tzinfo=UTC), False, None, "sleep", None, dict(payload), 0.0)


def test_sleep_stages_become_a_stepped_hypnogram_broken_between_nights():
    night = [_sample("sleep_stage", "2026-01-01T23:00:00", "2026-01-01T23:30:00", stage="light"),
             _sample("sleep_stage", "2026-01-01T23:30:00", "2026-01-02T00:10:00", stage="deep"),
             _sample("sleep_stage", "2026-01-02T00:10:00", "2026-01-02T00:20:00", stage="awake"),
             _sample("sleep_stage", "2026-01-02T22:00:00", "2026-01-02T22:45:00", stage="rem")]
    series = build_series(CHARTS["sleep_stage"], night)
    t0 = 1767308400.0  # 2026-01-01T23:00:00Z
    assert series.x == [t0, t0 + 1800, t0 + 4200, t0 + 4800, t0 + 4800.001, t0 + 82800, t0 + 85500]
    assert series.y == [2, 1, 4, 4, None, 3, 3]  # light, deep, awake until 00:20, gap, REM until 22:45
    assert series.labels == ["acme · sleep"] and set(series.provenance) == {0}


def test_steps_are_summed_per_local_day():
    steps = [_sample("steps", "2026-01-01T22:00:00", "2026-01-01T23:00:00", count=1200, local_date="2026-01-01"),
             _sample("steps", "2026-01-01T23:30:00", "2026-01-02T00:30:00", count=300, local_date="2026-01-01"),
             _sample("steps", "2026-01-02T08:00:00", "2026-01-02T09:00:00", count=4000, local_date="2026-01-02")]
    series = build_series(CHARTS["steps"], steps)
    assert series.x == [1767225600.0, 1767312000.0]  # midnight of each local day
    assert series.y == [1500.0, 4000.0]
    assert series.count == 3 and [row["value"] for row in series.rows] == [1200, 300, 4000]


def test_the_embedded_json_cannot_end_its_script_element():
    text = build_series(CHARTS["heart_rate"], [_sample("heart_rate", "2026-01-01T00:00:00", None, bpm=60)])
    text.labels = ["</script><script>alert(1)</script>"]
    assert "</" not in text.as_json() and "\\u003c/script\\u003e" in text.as_json()
