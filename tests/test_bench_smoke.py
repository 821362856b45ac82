"""Every benchmark runs once on a tiny input (no timing asserted), so the bench code cannot rot."""

from __future__ import annotations

import os

import pytest

from bench import (
    archive,
    budget,
    coldstart,
    console,
    fleet,
    mapping,
    merge,
    outbound,
    postgres,
    pull,
    storage,
    versus_dlt,
    webhooks,
)
from bench.common import Row


def _check(rows: list[Row]) -> None:
    assert rows
    for row in rows:
        assert not row.engine.startswith("failed"), row.engine
        assert row.markdown().count("|") == 9  # one well-formed table row


def test_mapping_benchmark_runs() -> None:
    _check(mapping.run(smoke=True))


def test_merge_benchmark_runs() -> None:
    _check(merge.run(smoke=True))


@pytest.mark.slow
@pytest.mark.parametrize("module", [coldstart, pull, budget, webhooks, archive, outbound, versus_dlt, storage, fleet,
                                    console],
                         ids=["coldstart", "pull", "budget", "webhooks", "archive", "outbound", "dlt", "storage",
                              "fleet", "console"])
def test_process_benchmarks_run(module) -> None:
    _check(module.run(smoke=True))


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_benchmark_runs() -> None:
    """On the suite's server (ENGINE_TEST_POSTGRES_URL) or one it starts itself; without any, its
    row says so and the test skips, except under CI=true."""
    rows = postgres.run(smoke=True)
    if rows[0].engine.startswith("not available"):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {rows[0].engine}", pytrace=False)
        pytest.skip(rows[0].engine)
    _check(rows)
