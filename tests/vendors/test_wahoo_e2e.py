"""Wahoo: connect, then a workout_summary webhook authenticated by the secret in its body
(`webhook_token`) is stored as a workout; a delivery with a wrong or missing token is refused and
creates no work; the token is not kept with the stored event."""

from __future__ import annotations

import json
import sqlite3

import pytest

from sandbox.state import PORTAL_SECRETS
from sandbox.webhooks import notification_for
from tests.vendors.harness import (
    connect_user,
    connected_record,
    drain,
    engine_app,
    engine_env,
    samples,
)

pytestmark = pytest.mark.anyio


async def test_wahoo_webhook_token_in_the_body_then_workout(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "wahoo"), clock) as (engine, client):
        user, record = await connected_record(engine, client, sim, "wahoo", "workouts")

        forged = notification_for(sim.state, "wahoo", "workouts", user.key, record, "create",
                                  webhook_token="not-the-token")
        refused = await forged.send(client, "/v1/webhooks/wahoo")
        assert refused.status_code == 401, refused.text
        unsigned = json.loads(forged.body)
        del unsigned["webhook_token"]
        missing = await client.post("/v1/webhooks/wahoo", json=unsigned)
        assert missing.status_code == 401
        assert await engine.store.list_jobs() == []

        delivery = notification_for(sim.state, "wahoo", "workouts", user.key, record, "create")
        answer = await delivery.send(client, "/v1/webhooks/wahoo")
        assert answer.status_code == 200, answer.text
        assert await drain(engine) >= 1
        stored = await samples(client, "u1", type="workout")
        assert [s["provenance"]["vendor_record_id"] for s in stored] == [record.id]
        summary = record.data["workout_summary"]
        assert stored[0]["kcal"] == float(summary["calories_accum"])
        assert stored[0]["distance_m"] == float(summary["distance_accum"])
        assert stored[0]["duration_s"] == int(summary["duration_active_accum"])
        with sqlite3.connect(tmp_path / "data" / "engine.db") as db:
            payloads = [row[0] for row in db.execute("SELECT payload FROM inbox_events WHERE vendor = 'wahoo'")]
        assert payloads and all(PORTAL_SECRETS["WAHOO_WEBHOOK_TOKEN"] not in p for p in payloads)
        assert all('"user": {"id"' in p or '"user":{"id"' in p for p in payloads)


async def test_wahoo_initial_sync_pages_the_workouts(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "wahoo"), clock) as (engine, client):
        await connect_user(client, sim, "wahoo", "u1")
        assert await drain(engine) >= 1
        stored = await samples(client, "u1", type="workout")
        user = sim.state.default_user("wahoo")
        assert stored and all(s["source"] == "wahoo" for s in stored)
        assert sim.state.calls_to("wahoo", "/v1/workouts")
        assert {s["provenance"]["vendor_record_id"] for s in stored} <= {
            r.id for r in sim.state.raw_records("wahoo", "workouts", user.key)}
