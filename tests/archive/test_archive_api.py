"""The raw archive through the HTTP API: samples carry their provenance in the read API, the export
and the samples outbound events carry inline (one rendering for all three); the remap route;
a disconnect purges that vendor's data and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.archive.remap import Remapper
from engine.spec.loader import load_spec
from engine.store.records import SampleProvenance, SampleRecord
from engine.store.sample_document import sample_document
from tests.auth.harness import AUTH, connect
from tests.e2e.helpers import drain, engine_app, send_whoop_webhook

pytestmark = pytest.mark.anyio

NO_INITIAL_SYNC = {"ENGINE_INITIAL_SYNC": "0"}


async def _webhook_sleep(engine, client, sim, clock) -> dict:
    """One WHOOP sleep, fetched on its webhook; returns the vendor's record."""
    vendor_user = sim.state.default_user("whoop")
    sleep = next(s for s in sim.state.records("whoop", "sleep", vendor_user.key)
                 if not s["nap"] and s["score_state"] == "SCORED")
    event = {"user_id": vendor_user.vendor_id, "id": sleep["id"], "type": "sleep.updated", "trace_id": "t-1"}
    secret = sim.state.client("whoop").client_secret
    assert (await send_whoop_webhook(client, secret, event, int(clock() * 1000))).status_code < 300
    assert await drain(engine) == 1
    return sleep


async def _samples(client, user: str = "user-1", **params) -> list[dict]:
    answer = await client.get(f"/v1/users/{user}/samples", headers=AUTH, params={"limit": 1000, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()["samples"]


def test_the_document_adds_only_what_the_store_kept() -> None:
    payload = {"sample_type": "steps", "provenance": {"resource": "r", "vendor_record_id": "x",
                                                      "vendor_updated_at": None}}
    kept = SampleProvenance("poll", 1, "abc", "key", "key.hash")
    assert sample_document(payload, True, kept) == {
        "sample_type": "steps", "deleted": True,
        "provenance": {"resource": "r", "vendor_record_id": "x", "vendor_updated_at": None,
                       "channel": "poll", "spec_version": 1, "mapping_hash": "abc",
                       "raw_record_id": "key.hash"}}
    # Before the archive existed a sample has no provenance columns: the payload's stays as it is.
    assert sample_document(payload, False, SampleProvenance()) == {**payload, "deleted": False}
    assert payload == {"sample_type": "steps", "provenance": {"resource": "r", "vendor_record_id": "x",
                                                              "vendor_updated_at": None}}


async def test_samples_carry_provenance_and_outbound_events_carry_the_same_documents(env, sim, clock):
    async with engine_app({**env, **NO_INITIAL_SYNC}, clock) as (engine, client):
        assert (await connect(client, "whoop", "user-1")).status_code == 200
        sleep = await _webhook_sleep(engine, client, sim, clock)
        stored = await _samples(client)
        assert stored and {s["provenance"]["vendor_record_id"] for s in stored} == {sleep["id"]}
        heads = await engine.store.raw_heads("whoop", user_id="user-1")
        assert len(heads) == 1
        for sample in stored:
            provenance = sample["provenance"]
            assert provenance["channel"] == "webhook" and provenance["spec_version"] == 1
            assert provenance["raw_record_id"] == heads[0].id
            assert len(provenance["mapping_hash"]) == 16

        export = (await client.get("/v1/users/user-1/samples", headers=AUTH, params={"format": "ndjson"})).text
        assert [json.loads(line) for line in export.splitlines()] == stored

        await engine.store.dispatch_outbox()
        changes = (await client.get("/v1/changes", headers=AUTH, params={"limit": 1000})).json()["data"]
        inline = [entry["sample"] for doc in changes if doc["type"] == "samples.changed"
                  for entry in doc["data"]["samples"]]
        key = lambda s: (s["sample_type"], s["dedup_key"])  # noqa: E731
        assert sorted(inline, key=key) == sorted(stored, key=key)


async def test_remap_route_reports_and_refuses_bad_input_in_the_error_shape(env, sim, clock):
    async with engine_app({**env, **NO_INITIAL_SYNC}, clock) as (engine, client):
        assert (await connect(client, "whoop", "user-1")).status_code == 200
        await _webhook_sleep(engine, client, sim, clock)
        calls = len(sim.state.calls)
        answer = await client.post("/v1/vendors/whoop/remap", json={"dry_run": True}, headers=AUTH)
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert report["dry_run"] is True and report["records"] == 1 and report["run_id"] is None
        assert (report["added"], report["changed"], report["removed"]) == (0, 0, 0)
        applied = (await client.post("/v1/vendors/whoop/remap", headers=AUTH,
                                     json={"user": "user-1", "resources": ["sleep"],
                                           "since": "2000-01-01"})).json()
        assert applied["dry_run"] is False and applied["records"] == 1 and applied["run_id"]
        assert len(sim.state.calls) == calls  # no vendor call

        bad = [({"dry_run": "yes"}, 400, "invalid_body"), ({"resources": ["nope"]}, 400, "unknown_resource"),
               ({"resources": []}, 400, "invalid_body"), ({"resources": "sleep"}, 400, "invalid_body"),
               ({"since": "yesterday"}, 400, "invalid_time"), ({"user": 7}, 400, "invalid_body"),
               ({"user": "a\x01b"}, 400, "invalid_user_id"), ({"extra": 1}, 400, "invalid_body")]
        for body, status, code in bad:
            answer = await client.post("/v1/vendors/whoop/remap", json=body, headers=AUTH)
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), body
        answer = await client.post("/v1/vendors/whoop/remap", content=b"[1]", headers=AUTH)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_body"
        answer = await client.post("/v1/vendors/nobody/remap", json={}, headers=AUTH)
        assert answer.status_code == 404 and set(answer.json()) == {"error"}
        assert (await client.post("/v1/vendors/whoop/remap", json={})).status_code == 401
        document = (await client.get("/openapi.json")).json()
        assert "/v1/vendors/{vendor}/remap" in document["paths"]
        sample_schema = document["paths"]["/v1/users/{user_id}/samples"]["get"]["responses"]["200"]
        provenance = sample_schema["content"]["application/json"]["schema"]["properties"]["samples"]["items"]
        assert {"channel", "mapping_hash", "raw_record_id"} <= set(provenance["properties"]["provenance"]["properties"])


async def test_a_disconnect_purges_that_vendors_data_and_still_tells_the_customer(env, sim, clock):
    async with engine_app({**env, **NO_INITIAL_SYNC}, clock) as (engine, client):
        assert (await connect(client, "whoop", "user-1")).status_code == 200
        await _webhook_sleep(engine, client, sim, clock)
        # The same user's data from another vendor stays.
        other = SampleRecord.from_sample({
            "user_id": "user-1", "source": "oura", "sample_type": "steps", "count": 10,
            "timestamp_utc": "2026-01-01T00:00:00Z",
            "provenance": {"resource": "daily", "vendor_record_id": "o-1", "vendor_updated_at": None}}, "o-1")
        await engine.store.upsert_samples([other])
        assert {s["source"] for s in await _samples(client)} == {"whoop", "oura"}

        answer = await client.delete("/v1/users/user-1/connections/whoop", headers=AUTH)
        assert answer.status_code == 200, answer.text
        assert [s["source"] for s in await _samples(client, include_deleted="true")] == ["oura"]
        assert await engine.store.raw_heads("whoop", user_id="user-1") == []
        assert await engine.store.count_raw_heads("whoop") == 0
        connection = await engine.store.get_connection("whoop", "user-1")
        assert connection is not None and connection.status == "revoked" and not connection.access_token
        events = await engine.store.list_changes()
        assert events == []  # nothing dispatched yet: the purge came first
        await engine.store.dispatch_outbox()
        events = await engine.store.list_changes(user_id="user-1")
        assert [e.event_type for e in events if e.event_type.startswith("connection.")] == ["connection.revoked"]
        assert all(e.payload.get("source") != "whoop" for e in events if e.event_type == "samples.changed")
        assert any(e.payload.get("source") == "oura" for e in events if e.event_type == "samples.changed")
        [erasure] = await engine.store.list_erasures()
        assert erasure.vendor == "whoop" and erasure.reason == "disconnected"
        assert erasure.counts["samples"] > 0 and erasure.counts["raw_records"] == 1
        assert "user-1" not in erasure.subject_hash


async def test_a_remaps_changes_reach_the_customer_with_origin_remap(env, sim, clock, tmp_path):
    async with engine_app({**env, **NO_INITIAL_SYNC}, clock) as (engine, client):
        assert (await connect(client, "whoop", "user-1")).status_code == 200
        sleep = await _webhook_sleep(engine, client, sim, clock)
        await engine.store.dispatch_outbox()
        seen = len(await engine.store.list_changes(limit=1000))
        text = (Path(env["ENGINE_VENDORS_DIR"]) / "whoop.yaml").read_text()
        old = "awake_s: {path: score.stage_summary.total_awake_time_milli, unit: ms}"
        assert text.count(old) == 1
        changed_spec = tmp_path / "changed" / "whoop.yaml"
        changed_spec.parent.mkdir()
        changed_spec.write_text(text.replace(old, old.replace("unit: ms", "unit: s")))
        report = await Remapper(engine.store, load_spec(changed_spec, env=env)).run()
        assert report.counts["changed"] == 1 and report.counts["restamped"] > 0
        await engine.store.dispatch_outbox()
        [event] = (await engine.store.list_changes(limit=1000))[seen:]  # restamps are not news
        assert event.origin == "remap" and event.payload["sample_type"] == "sleep_session"
        assert event.payload["updated"] == 1
        [entry] = event.payload["samples"]
        awake_ms = sleep["score"]["stage_summary"]["total_awake_time_milli"]
        assert entry["sample"].get("awake_s") == (awake_ms if awake_ms <= 86_400 else None)
        assert entry["sample"] == [s for s in await _samples(client) if s["sample_type"] == "sleep_session"][0]
