"""kill -9 during a re-map of 100,000 archived records, restart, finish: the samples equal those of
a clean re-map of the same archive. The re-map runs as `python -m engine.cli remap` in a child
process, killed once its run has written some pages; the restart resumes after the last page."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import data
from engine.archive.keeping import Arrival
from engine.engine import Engine, Settings
from tests.auth.harness import SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 100_000
USER = "crash-user"
UNIT = ("awake_s: {path: score.stage_summary.total_awake_time_milli, unit: ms}",
        "awake_s: {path: score.stage_summary.total_awake_time_milli, unit: s}")
SAMPLES = ("SELECT user_id, source, sample_type, dedup_id, deleted, timestamp_us, end_us, payload, "
           "channel, spec_version, mapping_hash, raw_key, raw_id FROM samples "
           "ORDER BY user_id, source, sample_type, dedup_id")

pytestmark = pytest.mark.slow


def _env(data_dir: Path, vendors: Path) -> dict[str, str]:
    return {"ENGINE_DATA_DIR": str(data_dir), "ENGINE_VENDORS_DIR": str(vendors),
            "ENGINE_SECRET_KEY": SECRET_KEY, "ENGINE_INITIAL_SYNC": "0"}


async def _fill(env: dict[str, str]) -> None:
    records = data.whoop_sleep_page(0, RECORDS)["records"]
    async with Engine(Settings.from_env(env)) as engine:
        spec = engine.spec("whoop")
        for first in range(0, RECORDS, 2000):
            await engine.sync.store_records(spec, "sleep", USER, records[first:first + 2000],
                                            arrival=Arrival("backfill"))


def _remap(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "remap", "whoop", "--format", "json",
                             "--batch", "1000"], cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run_state(db: Path) -> tuple[str, int] | None:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT state, counts FROM remap_runs").fetchone()
    except sqlite3.OperationalError:  # the child holds the write lock a moment
        return None
    return None if row is None else (row[0], json.loads(row[1]).get("records", 0))


def _finish(env: dict[str, str]) -> dict:
    child = _remap(env)
    out, err = child.communicate(timeout=900)
    assert child.returncode == 0, err
    return json.loads(out)


def _samples(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(SAMPLES).fetchall()


def test_a_remap_killed_mid_run_resumes_and_equals_a_clean_one(tmp_path: Path) -> None:
    vendors = tmp_path / "vendors"
    vendors.mkdir()
    spec = (ROOT / "vendors/whoop.yaml").read_text()
    (vendors / "whoop.yaml").write_text(spec)
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    asyncio.run(_fill(_env(crashed, vendors)))
    shutil.copytree(crashed, clean)
    assert spec.count(UNIT[0]) == 1
    (vendors / "whoop.yaml").write_text(spec.replace(*UNIT))  # every sleep session changes

    child = _remap(_env(crashed, vendors))
    deadline = time.monotonic() + 600
    state = None
    while time.monotonic() < deadline and child.poll() is None:
        state = _run_state(crashed / "engine.db")
        if state is not None and state[1] >= 5_000:
            break
        time.sleep(0.05)
    assert child.poll() is None, "the re-map finished before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    state = _run_state(crashed / "engine.db")
    assert state is not None and state[0] == "running" and 5_000 <= state[1] < RECORDS

    resumed = _finish(_env(crashed, vendors))
    assert resumed["resumed"] is True and resumed["records"] == RECORDS
    fresh = _finish(_env(clean, vendors))
    assert fresh["resumed"] is False and fresh["records"] == RECORDS
    assert fresh["changed"] > 0
    assert {k: resumed[k] for k in ("added", "changed", "removed", "unchanged")} == {
        k: fresh[k] for k in ("added", "changed", "removed", "unchanged")}
    crashed_rows, clean_rows = _samples(crashed / "engine.db"), _samples(clean / "engine.db")
    assert len(crashed_rows) == len(clean_rows) > RECORDS
    assert crashed_rows == clean_rows
    assert _finish(_env(crashed, vendors))["changed"] == 0
