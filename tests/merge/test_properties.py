"""Properties of the merged view over random days of three sources: no two interval samples of
one type from different sources overlap by more than the type's tolerance, and every stored
sample is shown or linked to a shown one. Additive parts never add up to more than the best
source's own total over the time they cover (nothing is counted twice)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.merge.combine import Entry, combine, ranker
from engine.merge.rules import default_rules
from engine.merge.view import MergedSample
from engine.store.codec import to_micros
from tests.examples import examples
from tests.merge.helpers import at, record, stored

SOURCES = ["garmin", "strava", "oura"]
INTERVAL_TYPES = ["workout", "sleep_session", "steps", "sleep_stage"]

samples = st.lists(
    st.tuples(st.sampled_from(SOURCES), st.integers(0, 3 * 24 * 60), st.integers(0, 12 * 60),
              st.sampled_from(["RUNNING", "Run", "Ride", "walking"]), st.integers(0, 5000)),
    max_size=25,
)


def _merged(sample_type: str, drawn) -> tuple[list[MergedSample], list]:
    rules = default_rules()
    rule = rules.rule(sample_type)
    rank = ranker(rules.priority(sample_type))
    values = {"workout": lambda a, n: {"activity": a, "distance_m": n},
              "sleep_session": lambda a, n: {"asleep_s": n},
              "steps": lambda a, n: {"count": n},
              "sleep_stage": lambda a, n: {"stage": "light"}}[sample_type]
    entries = []
    for index, (source, start, minutes, activity, amount) in enumerate(drawn):
        begin = at(minutes=start)
        s = stored(record(source, sample_type, begin, begin + timedelta(minutes=minutes), rid=f"r{index}",
                          **values(activity, amount)))
        entries.append(Entry(s, to_micros(s.timestamp_utc), to_micros(s.end_utc), rank(s.source)))
    return [MergedSample(p, rule.kind) for p in combine(rule, rules, entries)], entries


@settings(max_examples=examples(1000))
@given(st.sampled_from(INTERVAL_TYPES), samples)
def test_no_cross_source_overlap_beyond_tolerance_and_every_sample_accounted_for(sample_type, drawn):
    merged, entries = _merged(sample_type, drawn)
    tolerance = default_rules().rule(sample_type).overlap_tolerance_us
    for i, a in enumerate(merged):
        for b in merged[i + 1:]:
            if a.piece.entry.sample.source != b.piece.entry.sample.source:
                overlap = min(a.piece.end, b.piece.end) - max(a.piece.start, b.piece.start)
                assert overlap <= tolerance, (a.document(), b.document())
    shown = {ref["dedup_key"] for m in merged for ref in m.document()["merge"]["stands_for"]}
    linked = {ref["dedup_key"] for m in merged for ref in m.document()["merge"]["linked"]}
    assert {e.sample.dedup_id for e in entries} <= shown | linked


@settings(max_examples=examples(500))
@given(samples)
def test_additive_parts_never_count_a_moment_twice(drawn):
    merged, _ = _merged("steps", drawn)
    by_source: dict[str, float] = {}
    for m in merged:
        by_source[m.piece.entry.sample.source] = by_source.get(m.piece.entry.sample.source, 0) + m.document()["count"]
    for source, total in by_source.items():
        own = sum(e[4] for e in drawn if e[0] == source)
        assert total <= own + 1e-6
