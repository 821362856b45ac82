"""The merged view on hand-built days of one person with several devices, every expected value
worked out by hand in the test: the same run in Garmin and Strava, the same night in Oura and
WHOOP, two step counts over part of a day, one weigh-in in two places, a genuine second workout,
heart rate from a watch and a ring. Real stores (SQLite, and PostgreSQL with -m postgres)."""

from __future__ import annotations

import pytest

from engine.merge.rules import default_rules
from engine.merge.view import MergedView
from tests.merge.helpers import USER, at, linked_ids, record

pytestmark = pytest.mark.anyio


async def merged(store, records, **options):
    await store.upsert_samples(records)
    view = MergedView(store, default_rules())
    return [m.document() for m in await view.window(USER, at(-24), at(48), **options)]


async def test_the_same_run_in_garmin_and_strava_is_one_workout_with_both_ids_linked(store):
    docs = await merged(store, [
        record("garmin", "workout", at(7), at(7, minutes=45), rid="g-run", activity="RUNNING",
               kcal=520, distance_m=8000),
        record("strava", "workout", at(7, seconds=30), at(7, minutes=45, seconds=10), rid="s-run",
               activity="Run", kcal=540, distance_m=8050),
    ], sample_types=["workout"])
    assert len(docs) == 1
    (run,) = docs
    assert (run["source"], run["kcal"], run["distance_m"]) == ("garmin", 520, 8000)
    assert run["merge"]["stands_for"][0]["vendor_record_id"] == "g-run"
    (link,) = run["merge"]["linked"]
    assert (link["source"], link["vendor_record_id"], link["reason"]) == ("strava", "s-run", "duplicate")
    # Overlap 07:00:30-07:45:00 = 2670 s of a union 07:00:00-07:45:10 = 2710 s; distance 50 m of
    # 8050 apart, energy 20 kcal of 540: the score is the mean of the three closenesses.
    assert link["score"] == round((2670 / 2710 + (1 - 50 / 8050) + (1 - 20 / 540)) / 3, 4) == 0.9807
    assert link["evidence"] == {"start_delta_s": 30.0, "end_delta_s": 10.0, "time_overlap": 0.9852,
                                "activity_family": "running", "distance_m_delta": 50, "kcal_delta": 20}


async def test_a_genuine_second_workout_the_same_day_is_kept(store):
    docs = await merged(store, [
        record("garmin", "workout", at(7), at(7, minutes=45), rid="g-am", activity="RUNNING", distance_m=8000),
        record("garmin", "workout", at(17, minutes=30), at(18), rid="g-pm", activity="RUNNING", distance_m=5000),
        record("strava", "workout", at(7, seconds=30), at(7, minutes=45, seconds=10), rid="s-am",
               activity="Run", distance_m=8050),
        record("strava", "workout", at(12), at(12, minutes=30), rid="s-noon", activity="Walk"),
        # Strava's ride at the time of the morning run: overlapping it, but not the same activity.
    ], sample_types=["workout"])
    assert [(d["source"], d["provenance"]["vendor_record_id"]) for d in docs] == [
        ("garmin", "g-am"), ("strava", "s-noon"), ("garmin", "g-pm")]
    assert linked_ids(docs[0]) == [("strava", "s-am", "duplicate")]
    assert docs[1]["merge"]["linked"] == docs[2]["merge"]["linked"] == []


async def test_overlapping_workouts_of_different_activities_are_never_both_shown(store):
    docs = await merged(store, [
        record("garmin", "workout", at(7), at(8), rid="g", activity="RUNNING"),
        record("strava", "workout", at(7, minutes=30), at(8, minutes=30), rid="s", activity="Ride"),
    ], sample_types=["workout"])
    (only,) = docs
    # 30 minutes of Strava's 60 overlap Garmin's run: an overlap, not a duplicate.
    assert linked_ids(only) == [("strava", "s", "overlap")]
    assert only["merge"]["linked"][0]["score"] == 0.5


async def test_the_same_night_in_oura_and_whoop_is_one_sleep(store):
    docs = await merged(store, [
        record("oura", "sleep_session", at(-1.5, minutes=20), at(6, minutes=50), rid="o-night", asleep_s=27000),
        record("whoop", "sleep_session", at(-1, minutes=-5), at(7, minutes=5), rid="w-night", asleep_s=26400),
        record("whoop", "sleep_session", at(14), at(14, minutes=30), rid="w-nap", is_nap=True),
    ], sample_types=["sleep_session"])
    assert [(d["source"], d["provenance"]["vendor_record_id"]) for d in docs] == [
        ("oura", "o-night"), ("whoop", "w-nap")]
    (link,) = docs[0]["merge"]["linked"]
    assert (link["source"], link["vendor_record_id"], link["reason"]) == ("whoop", "w-night", "duplicate")
    # Oura 22:50-06:50, WHOOP 22:55-07:05: overlap 22:55-06:50 = 475 min, union 22:50-07:05 = 495 min.
    assert link["score"] == round(475 / 495, 4) == 0.9596


async def test_two_step_sources_over_part_of_a_day_take_each_part_from_the_better_one(store):
    docs = await merged(store, [
        # The watch (preferred by default) came off at noon; the ring counted the whole day.
        record("garmin", "steps", at(0), at(12), rid="g-day", count=6000),
        record("oura", "steps", at(0), at(24), rid="o-day", count=10000),
    ], sample_types=["steps"])
    parts = [(d["source"], d["timestamp_utc"], d["end_utc"], d["count"]) for d in docs]
    assert parts == [("garmin", "2026-03-02T00:00:00Z", "2026-03-02T12:00:00Z", 6000),
                     ("oura", "2026-03-02T12:00:00Z", "2026-03-03T00:00:00Z", 10000 * 12 / 24)]
    assert sum(d["count"] for d in docs) == 6000 + 5000
    assert docs[1]["merge"]["stands_for"][0]["share"] == 0.5
    assert linked_ids(docs[0]) == [("oura", "o-day", "covered")]
    assert docs[0]["merge"]["linked"][0]["score"] == 0.5


async def test_a_users_priority_override_changes_the_per_interval_choice(store):
    await store.set_merge_priority(USER, "steps", ["apple_health", "garmin"])
    docs = await merged(store, [
        record("garmin", "steps", at(0), at(24), rid="g-day", count=12000),
        record("apple_health", "steps", at(8), at(9), rid="a-8", count=3000),
        record("apple_health", "steps", at(9), at(10), rid="a-9", count=1000),
    ], sample_types=["steps"])
    parts = [(d["source"], d["timestamp_utc"][11:16], d["end_utc"][11:16], d["count"]) for d in docs]
    # Garmin's day keeps 00-08 (8/24 of 12000) and 10-24 (14/24 of 12000).
    assert parts == [("garmin", "00:00", "08:00", 4000), ("apple_health", "08:00", "09:00", 3000),
                     ("apple_health", "09:00", "10:00", 1000), ("garmin", "10:00", "00:00", 7000)]
    assert sum(d["count"] for d in docs) == 4000 + 3000 + 1000 + 7000 == 15000
    assert [link["score"] for link in docs[1]["merge"]["linked"]] == [round(1 / 24, 4)]
    other = [d["source"] for d in await MergedView(store, default_rules()).window(
        "someone-else", at(0), at(24))]
    assert other == []  # the override is the user's own
    await store.clear_merge_priority(USER)
    assert await store.merge_priorities(USER) == {}


async def test_a_weigh_in_in_withings_and_apple_health_is_one(store):
    docs = await merged(store, [
        record("withings", "weight", at(7, minutes=2), rid="w-1", kg=72.4),
        record("apple_health", "weight", at(7, minutes=2, seconds=30), rid="a-1", kg=72.4),
        record("apple_health", "weight", at(19), rid="a-2", kg=73.1),
    ], sample_types=["weight"])
    assert [(d["source"], d["kg"]) for d in docs] == [("withings", 72.4), ("apple_health", 73.1)]
    (link,) = docs[0]["merge"]["linked"]
    assert (link["source"], link["vendor_record_id"], link["reason"]) == ("apple_health", "a-1", "duplicate")
    # 30 s apart of the 15 min allowed, the same weight: mean of (1 - 30/900) and 1.
    assert link["score"] == round(((1 - 30 / 900) + 1) / 2, 4) == 0.9833


async def test_heart_rate_from_a_watch_and_a_ring_takes_the_priority_source_per_minute(store):
    docs = await merged(store, [
        record("garmin", "heart_rate", at(10, seconds=5), rid="g1", bpm=61),
        record("garmin", "heart_rate", at(10, seconds=35), rid="g2", bpm=62),
        record("garmin", "heart_rate", at(10, minutes=1, seconds=10), rid="g3", bpm=63),
        record("oura", "heart_rate", at(10, seconds=20), rid="o1", bpm=70),
        record("oura", "heart_rate", at(10, minutes=1, seconds=40), rid="o2", bpm=71),
        record("oura", "heart_rate", at(10, minutes=2, seconds=15), rid="o3", bpm=72),
    ], sample_types=["heart_rate"])
    assert [(d["source"], d["bpm"]) for d in docs] == [("garmin", 61), ("garmin", 62), ("garmin", 63), ("oura", 72)]
    assert [linked_ids(d) for d in docs] == [[("oura", "o1", "bucket")], [], [("oura", "o2", "bucket")], []]


async def test_a_window_is_the_same_whether_read_alone_or_within_a_longer_range(store):
    records = [
        record("garmin", "steps", at(0, day=d), at(12, day=d), rid=f"g{d}", count=6000) for d in range(3)
    ] + [
        record("oura", "steps", at(-2, day=d), at(22, day=d), rid=f"o{d}", count=9600) for d in range(3)
    ] + [
        record("oura", "sleep_session", at(-1, day=d), at(7, day=d), rid=f"os{d}") for d in range(3)
    ] + [
        record("whoop", "sleep_session", at(-1, minutes=10, day=d), at(7, minutes=5, day=d), rid=f"ws{d}")
        for d in range(3)
    ]
    await store.upsert_samples(records)
    view = MergedView(store, default_rules())
    whole = [m.document() for m in await view.window(USER, at(-24), at(24 * 4))]
    by_day = [m.document() for d in range(-1, 4) for m in await view.window(USER, at(0, day=d), at(0, day=d + 1))]
    assert by_day == whole
    paged, cursor = [], None
    while True:
        page = await view.page(USER, limit=2, cursor=cursor)
        paged.extend(m.document() for m in page.samples)
        if (cursor := page.next_cursor) is None:
            break
    assert paged == whole
