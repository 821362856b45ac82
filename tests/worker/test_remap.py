"""`engine remap`: a fixed spec re-derives history from the raw archive without a vendor call.

A WHOOP backfill against the simulator fills the archive; the spec copy is then edited (a `when`
that drops the respiratory rate of naps, a unit), and remap's dry run must name exactly the
samples that change, the real run apply them, and a second run find nothing to do, with the
simulator seeing no request throughout."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.cli import main
from engine.store import open_store
from sandbox.app import Simulator
from sandbox.server import RunningSim, serve_in_thread
from sandbox.state import SimState
from tests.auth.harness import SECRET_KEY, Clock, connect
from tests.e2e.helpers import engine_app

RESPIRATORY_WHEN = "when: \"score_state == 'SCORED' && score.respiratory_rate != null\""
NAP_FREE_WHEN = "when: \"score_state == 'SCORED' && score.respiratory_rate != null && !nap\""


@pytest.fixture
def sim(clock: Clock) -> Iterator[RunningSim]:
    with serve_in_thread(Simulator(SimState(["whoop"], clock=clock))) as running:
        yield running


@pytest.fixture
def synced(env, sim, clock, capsys):
    user = sim.state.add_user("whoop", days=20)

    async def run() -> None:
        async with engine_app(env, clock) as (_engine, client):
            assert (await connect(client, "whoop", "user-1")).status_code == 200

    asyncio.run(run())
    since = (datetime.fromtimestamp(clock(), UTC) - timedelta(days=21)).date().isoformat()
    assert main(["sync", "whoop", "user-1", "--since", since, "--resources", "sleep"]) == 0
    capsys.readouterr()
    return user


async def _samples(env: dict[str, str], sample_type: str, *, live: bool = True):
    store = await open_store(None, Path(env["ENGINE_DATA_DIR"]), secret_keys=[SECRET_KEY])
    try:
        page = await store.list_samples("user-1", sample_types=[sample_type], limit=10_000,
                                        include_deleted=not live)
        return page.samples
    finally:
        await store.close()


def _edit_spec(env: dict[str, str], old: str, new: str) -> None:
    path = Path(env["ENGINE_VENDORS_DIR"]) / "whoop.yaml"
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))


def _remap(capsys, *args: str) -> dict:
    assert main(["remap", "whoop", "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_changed_when_is_applied_to_history_without_a_vendor_call(env, sim, synced, capsys):
    sleeps = sim.state.records("whoop", "sleep", synced.key)
    naps_with_rate = sorted(s["id"] for s in sleeps if s["nap"] and s["score_state"] == "SCORED"
                            and s["score"].get("respiratory_rate") is not None)
    assert naps_with_rate, "the dataset must hold scored naps for this test to mean anything"
    before = asyncio.run(_samples(env, "respiratory_rate"))
    assert {s.vendor_record_id for s in before} >= set(naps_with_rate)
    assert all(s.provenance and s.provenance.channel == "manual_sync" and s.provenance.raw_id
               for s in before)
    calls = len(sim.state.calls)

    _edit_spec(env, RESPIRATORY_WHEN, NAP_FREE_WHEN)
    dry = _remap(capsys, "--dry-run")
    assert (dry["added"], dry["changed"], dry["removed"]) == (0, 0, len(naps_with_rate))
    assert dry["records"] == len(sleeps) and dry["not_remappable"] == 0
    assert sorted(e["dedup_id"].split("|")[4] for e in dry["examples"]) == naps_with_rate[:10]
    assert all(e["fields"]["brpm"]["after"] is None for e in dry["examples"])
    assert asyncio.run(_samples(env, "respiratory_rate")) == before  # a dry run writes nothing

    applied = _remap(capsys)
    assert applied["removed"] == len(naps_with_rate) and applied["dry_run"] is False
    after = asyncio.run(_samples(env, "respiratory_rate"))
    assert sorted(s.vendor_record_id for s in after) == sorted(
        s.vendor_record_id for s in before if s.vendor_record_id not in naps_with_rate)

    again = _remap(capsys)
    assert (again["added"], again["changed"], again["removed"], again["restamped"]) == (0, 0, 0, 0)
    assert len(sim.state.calls) == calls  # remap never called the vendor


def test_a_changed_unit_changes_every_value_and_the_old_mapping_is_counted(env, sim, synced, capsys):
    sessions = asyncio.run(_samples(env, "sleep_session"))
    calls = len(sim.state.calls)
    # Time awake read in seconds instead of milliseconds: every session with one changes (to a
    # value 1000 times larger, or none where that is out of the field's range).
    _edit_spec(env, "awake_s: {path: score.stage_summary.total_awake_time_milli, unit: ms}",
               "awake_s: {path: score.stage_summary.total_awake_time_milli, unit: s}")
    dry = _remap(capsys, "--dry-run", "--resources", "sleep")
    with_value = [s for s in sessions if s.payload.get("awake_s")]
    assert dry["changed"] == len(with_value) and dry["removed"] == 0 and dry["added"] == 0
    for example in dry["examples"]:
        change = example["fields"]["awake_s"]
        assert change["after"] in (None, pytest.approx(change["before"] * 1000))
    # The other sleep samples did not change but come from the older mapping until remapped.
    assert dry["restamped"] > 0
    assert main(["connections", "--format", "text"]) == 0
    assert "samples from an older mapping" in capsys.readouterr().out
    _remap(capsys, "--resources", "sleep")
    assert main(["connections", "--format", "text"]) == 0
    assert "older mapping" not in capsys.readouterr().out
    assert len(sim.state.calls) == calls
