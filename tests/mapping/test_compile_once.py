"""Nothing is compiled per record: the expression counter stays flat across 100k records."""

from __future__ import annotations

import engine.spec.expr as expr_module
from engine.mapping.compiler import compile_resource_mapper
from tests.mapping.helpers import fixture, shipped_spec

RECORDS = 100_000


def test_no_compilation_while_mapping_100k_records():
    whoop_workout = compile_resource_mapper(shipped_spec("whoop"), "workout")
    oura_heartrate = compile_resource_mapper(shipped_spec("oura"), "heartrate")
    workouts = fixture("whoop", "workout.list")["records"]
    rows = fixture("oura", "heartrate.list")["data"]
    before = expr_module.COMPILE_COUNT
    mapped = 0
    for i in range(RECORDS // 2):
        mapped += len(whoop_workout.map_record(workouts[i % len(workouts)], "u1").samples)
    result = oura_heartrate.map_records((rows[i % len(rows)] for i in range(RECORDS // 2)), "u1")
    mapped += len(result.samples)
    assert before == expr_module.COMPILE_COUNT
    scored_workouts = sum(1 for i in range(RECORDS // 2) if i % 3 != 0)  # the first is pending
    assert mapped == scored_workouts * 2 + RECORDS // 2


def test_oura_series_mapping_does_not_compile_per_item():
    mapper = compile_resource_mapper(shipped_spec("oura"), "sleep")
    night = fixture("oura", "sleep.list")["data"][0]
    before = expr_module.COMPILE_COUNT
    for _ in range(200):
        assert len(mapper.map_record(night, "u1").samples) == 4 + 86 + 87
    assert before == expr_module.COMPILE_COUNT
