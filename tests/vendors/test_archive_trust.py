"""The raw archive keeps only what the vendor itself gave: a forged Garmin push (its header is
the public client id) is never archived, so a re-map after it has nothing of it to map and
leaves 0 samples from it; the records the engine re-read from Garmin's API are archived, as
fetched."""

from __future__ import annotations

import pytest

from engine.archive.keeping import Arrival, decompress
from sandbox.webhooks import garmin_push
from tests.auth.harness import AUTH
from tests.vendors.harness import (
    connect_user,
    drain,
    engine_app,
    engine_env,
    no_initial_sync,
    samples,
)

pytestmark = pytest.mark.anyio


async def test_a_forged_push_then_a_remap_leaves_no_sample_of_it(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "garmin"), clock) as (engine, client):
        no_initial_sync(engine, "garmin")
        await connect_user(client, sim, "garmin", "u1")
        await drain(engine)
        user = sim.state.default_user("garmin").key
        invented = [{"summaryId": f"forged-{i}", "userId": user, "calendarDate": "2026-11-30",
                     "startTimeInSeconds": 1796083200 + i, "startTimeOffsetInSeconds": 0,
                     "durationInSeconds": 86400, "steps": 99_999 + i} for i in range(3)]
        push = garmin_push(sim.state.client("garmin").client_id, {"dailies": invented})
        assert (await push.send(client, "/v1/webhooks/garmin")).status_code < 300
        await drain(engine)

        heads = await engine.store.raw_heads("garmin", limit=10_000)
        bodies = [decompress(h.codec, h.body) for h in heads]
        assert not [b for b in bodies if str(b.get("summaryId", "")).startswith("forged-")]
        trust = await engine.store.executor.read_all("SELECT DISTINCT trust FROM raw_records")
        assert heads and [row[0] for row in trust] == ["fetched"]  # re-read from Garmin's API
        calls = len(sim.state.calls)

        answer = await client.post("/v1/vendors/garmin/remap", json={}, headers=AUTH)
        assert answer.status_code == 200, answer.text
        assert answer.json()["added"] == 0 and answer.json()["records"] == len(heads)
        stored = await samples(client, "u1", include_deleted="true")
        assert not [s for s in stored if str(s["meta"].get("summary_id")).startswith("forged-")]
        assert not [s for s in stored if s.get("count", 0) >= 99_999]
        assert len(sim.state.calls) == calls


async def test_a_weak_deliverys_body_is_never_archived_even_when_mapped(sim, clock, tmp_path):
    """Defence in depth: were a weak delivery's body ever mapped, it is not kept as a record, so
    a re-map has nothing of it and reports its samples as not remappable (and leaves them)."""
    async with engine_app(sim, engine_env(sim, tmp_path, "garmin"), clock) as (engine, client):
        no_initial_sync(engine, "garmin")
        await connect_user(client, sim, "garmin", "u1")
        await drain(engine)
        user = sim.state.default_user("garmin").key
        body = [{"summaryId": "weak-1", "userId": user, "calendarDate": "2026-11-30",
                 "startTimeInSeconds": 1796083200, "startTimeOffsetInSeconds": 0,
                 "durationInSeconds": 86400, "steps": 1234}]
        spec = engine.spec("garmin")
        for trust in ("weak", "unauthenticated"):
            result = await engine.sync.store_records(spec, "daily", "u1", body, arrival=Arrival("push", trust))
            assert result.written > 0 or trust == "unauthenticated"
        assert await engine.store.count_raw_heads("garmin") == 0
        answer = (await client.post("/v1/vendors/garmin/remap", json={}, headers=AUTH)).json()
        assert answer["records"] == 0 and answer["not_remappable"] > 0 and answer["removed"] == 0
