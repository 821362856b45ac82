"""`GET /v1/users/{id}/samples?view=merged` over the running app: plain stays the default, the
merged view pages with a cursor and exports as ndjson, bad combinations are 400s in the API's
error shape, and an unreadable ENGINE_MERGE_RULES stops the engine from starting."""

from __future__ import annotations

import json

import pytest

from engine.engine import Engine
from engine.settings import ConfigError, Settings
from tests.auth.harness import AUTH
from tests.merge.helpers import at, record

pytestmark = pytest.mark.anyio
URL = "/v1/users/u1/samples"


async def _store_run_twice(engine) -> None:
    await engine.store.upsert_samples([
        record("garmin", "workout", at(7), at(7, minutes=45), rid="g-run", activity="RUNNING"),
        record("strava", "workout", at(7, seconds=30), at(7, minutes=45), rid="s-run", activity="Run"),
        record("garmin", "heart_rate", at(9), rid="hr-g", bpm=60),
        record("oura", "heart_rate", at(9, seconds=10), rid="hr-o", bpm=64),
    ])


async def test_the_plain_view_stays_the_default_and_merged_is_asked_for(engine_and_client):
    engine, client = engine_and_client
    await _store_run_twice(engine)
    plain = (await client.get(URL, headers=AUTH)).json()["samples"]
    assert [s["source"] for s in plain] == ["garmin", "strava", "garmin", "oura"]
    assert all("merge" not in s for s in plain)
    merged = (await client.get(URL, params={"view": "merged"}, headers=AUTH)).json()
    assert [(s["sample_type"], s["source"]) for s in merged["samples"]] == [
        ("workout", "garmin"), ("heart_rate", "garmin")]
    assert [link["vendor_record_id"] for link in merged["samples"][0]["merge"]["linked"]] == ["s-run"]
    assert merged["next_cursor"] is None


async def test_the_merged_view_pages_and_exports(engine_and_client):
    engine, client = engine_and_client
    await _store_run_twice(engine)
    first = (await client.get(URL, params={"view": "merged", "limit": "1"}, headers=AUTH)).json()
    second = (await client.get(URL, params={"view": "merged", "limit": "1", "cursor": first["next_cursor"]},
                               headers=AUTH)).json()
    assert [s["sample_type"] for s in first["samples"] + second["samples"]] == ["workout", "heart_rate"]
    assert second["next_cursor"] is None
    export = await client.get(URL, params={"view": "merged", "format": "ndjson", "type": "heart_rate"}, headers=AUTH)
    assert [json.loads(line)["merge"]["source"] for line in export.text.splitlines()] == ["garmin"]


@pytest.mark.parametrize("params", [{"view": "blended"}, {"view": "merged", "include_deleted": "true"},
                                    {"view": "merged", "cursor": "not-a-cursor"}])
async def test_bad_merged_queries_are_400s(engine_and_client, params):
    _, client = engine_and_client
    response = await client.get(URL, params=params, headers=AUTH)
    assert response.status_code == 400
    assert set(response.json()["error"]) >= {"code", "message"}


async def test_unreadable_merge_rules_stop_the_engine_with_file_line_col(tmp_path):
    rules = tmp_path / "merge.yaml"
    rules.write_text("merge_version: 1\npriorities:\n  default: [garmin]\ntypes:\n  steps: {kind: additve}\n")
    engine = Engine(Settings.from_env({"ENGINE_MERGE_RULES": str(rules), "ENGINE_DATA_DIR": str(tmp_path)}))
    with pytest.raises(ConfigError) as raised:
        await engine.open()
    await engine.close()
    assert f"{rules}:5:" in raised.value.message and "additve" in raised.value.message


async def test_a_user_sets_their_own_priorities_and_the_merged_view_follows(engine_and_client):
    engine, client = engine_and_client
    await engine.store.upsert_samples([
        record("garmin", "steps", at(0), at(24), rid="g", count=12000),
        record("oura", "steps", at(0), at(12), rid="o", count=5000),
    ])
    url = "/v1/users/u1/merge-priorities"

    async def steps() -> list[tuple[str, float]]:
        body = (await client.get(URL, params={"view": "merged"}, headers=AUTH)).json()
        return [(s["source"], s["count"]) for s in body["samples"]]

    assert await steps() == [("garmin", 12000)]
    put = await client.put(url, json={"steps": ["oura", "garmin"]}, headers=AUTH)
    assert put.status_code == 200
    assert put.json()["priorities"] == {"steps": ["oura", "garmin"]}
    assert put.json()["effective"]["steps"] == ["oura", "garmin"]
    assert await steps() == [("oura", 5000), ("garmin", 12000 * 12 / 24)]
    for bad in ({"stepz": ["oura"]}, {"steps": "oura"}, {"steps": ["Oura!"]}, {"steps": ["oura", "oura"]}):
        response = await client.put(url, json=bad, headers=AUTH)
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_body"
    assert (await client.delete(url, headers=AUTH)).json()["priorities"] == {}
    assert await steps() == [("garmin", 12000)]
    assert (await client.get(url, headers=AUTH)).json()["effective"]["sleep_session"][:2] == ["oura", "whoop"]
