"""Query parameters say exactly what they do: an unknown sample type is a 400 naming the known
ones, the ndjson export honours `limit`, and `return_to` may come in the query of a connect call."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from engine.store.port import SampleRecord
from tests.auth.harness import APP_ORIGIN, AUTH

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 11, 1, tzinfo=UTC)


async def _store_heart_rates(engine, count: int) -> None:
    rows = []
    for minute in range(count):
        at = T0 + timedelta(minutes=minute)
        sample = {"user_id": "u1", "source": "whoop", "sample_type": "heart_rate", "bpm": 60 + minute,
                  "timestamp_utc": at.isoformat().replace("+00:00", "Z"),
                  "provenance": {"resource": "hr", "vendor_record_id": f"r{minute}"}}
        rows.append(SampleRecord.from_sample(sample, dedup_id=f"r{minute}"))
    await engine.store.upsert_samples(rows)


async def test_an_unknown_sample_type_is_a_400_naming_the_known_ones(engine_and_client):
    _, client = engine_and_client
    response = await client.get("/v1/users/u1/samples", params={"type": "sleep_sesion"}, headers=AUTH)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "sleep_sesion" in message and "sleep_session" in message and "heart_rate" in message
    ok = await client.get("/v1/users/u1/samples", params={"type": "sleep_session,heart_rate"}, headers=AUTH)
    assert ok.status_code == 200


async def test_the_ndjson_export_honours_limit_and_is_whole_without_it(engine_and_client):
    engine, client = engine_and_client
    await _store_heart_rates(engine, 7)
    limited = await client.get("/v1/users/u1/samples", params={"format": "ndjson", "limit": "3"}, headers=AUTH)
    whole = await client.get("/v1/users/u1/samples", params={"format": "ndjson"}, headers=AUTH)
    bpm = [[json.loads(line)["bpm"] for line in r.text.splitlines()] for r in (limited, whole)]
    assert bpm == [[60, 61, 62], [60, 61, 62, 63, 64, 65, 66]]


async def test_return_to_may_come_in_the_query(engine_and_client):
    _, client = engine_and_client
    target = f"{APP_ORIGIN}/done"
    response = await client.post("/v1/users/u1/connections/whoop", params={"return_to": target}, headers=AUTH)
    assert response.status_code == 201, response.text
    assert "state" in parse_qs(urlsplit(response.json()["authorization_url"]).query)
    both = await client.post("/v1/users/u1/connections/whoop", params={"return_to": target},
                             json={"return_to": target}, headers=AUTH)
    unknown = await client.post("/v1/users/u1/connections/whoop", params={"retrun_to": target}, headers=AUTH)
    assert (both.status_code, unknown.status_code) == (400, 400)
    assert "retrun_to" in unknown.json()["error"]["message"]
    # The query value is the one checked against the allow-list, so it is really used.
    foreign = await client.post("/v1/users/u1/connections/whoop",
                                params={"return_to": "https://evil.example/x"}, headers=AUTH)
    assert foreign.status_code == 400, foreign.text


async def test_a_samples_page_is_the_same_json_whichever_encoder_writes_it(engine_and_client):
    """orjson writes the page; a document it refuses (an integer past 64 bits) takes the stdlib's
    path; either way the bytes are the stdlib's."""
    engine, client = engine_and_client
    await _store_heart_rates(engine, 3)
    big = {"user_id": "u1", "source": "whoop", "sample_type": "heart_rate", "bpm": 2**70, "note": "é",
           "timestamp_utc": "2026-11-02T00:00:00Z", "provenance": {"resource": "hr", "vendor_record_id": "big"}}
    plain = await client.get("/v1/users/u1/samples", headers=AUTH)
    await engine.store.upsert_samples([SampleRecord.from_sample(big, dedup_id="big")])
    with_big = await client.get("/v1/users/u1/samples", headers=AUTH)  # orjson refuses 2**70
    for response in (plain, with_big):
        assert response.status_code == 200
        stdlib = json.dumps(response.json(), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        assert response.content == stdlib.encode()
    assert b'"bpm":1180591620717411303424,' in with_big.content  # an integer, every digit of it
