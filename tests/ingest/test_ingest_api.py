"""Push ingestion through the real ASGI app on a real SQLite store: the backend issues an ingest
token with the API key, the app posts the shipped fixture batches with it, and the samples come
back from the read API; every refusal is a 4xx in the API's one error shape."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from engine.api.app import create_app
from engine.engine import Engine, Settings
from engine.spec.catalogue import SHIPPED_VENDORS_DIR

pytestmark = pytest.mark.anyio

API_KEY = "test-api-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
PUBLIC_URL = "http://127.0.0.1:8000"
FIXTURES = Path(__file__).resolve().parents[2] / "vendors"
HEALTHKIT = json.loads((FIXTURES / "apple_health/fixtures/ingest.day.json").read_text())
HEALTH_CONNECT = json.loads((FIXTURES / "health_connect/fixtures/ingest.day.json").read_text())


class Clock:
    def __init__(self) -> None:
        self.now = 1_772_460_000.0  # 2026-03-02T14:00:00Z

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def ingest_app(tmp_path: Path, clock: Clock, **replace: str) -> AsyncIterator[tuple[Engine, httpx2.AsyncClient]]:
    """The engine with the two on-device specs; `replace` edits the Apple Health spec's text."""
    vendors = tmp_path / "vendors"
    vendors.mkdir(exist_ok=True)
    for vendor in ("apple_health", "health_connect"):
        text = (SHIPPED_VENDORS_DIR / f"{vendor}.yaml").read_text()
        if vendor == "apple_health":
            for old, new in replace.items():
                assert old in text
                text = text.replace(old, new)
        (vendors / f"{vendor}.yaml").write_text(text)
    env = {"ENGINE_VENDORS_DIR": str(vendors), "ENGINE_DATA_DIR": str(tmp_path / "data"),
           "ENGINE_API_KEY": API_KEY, "ENGINE_PUBLIC_URL": PUBLIC_URL,
           "ENGINE_SECRET_KEY": "engine-test-secret-key-0123456789abcdef", "ENGINE_NO_WORKER": "1"}
    engine = Engine(Settings.from_env(env), clock=clock)
    async with engine:
        app = create_app(engine)
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
            yield engine, client


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def issue(client: httpx2.AsyncClient, user: str, vendor: str = "apple_health") -> str:
    response = await client.post(f"/v1/users/{user}/connections/{vendor}", headers=AUTH)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["ingest_url"] == f"{PUBLIC_URL}/v1/ingest/{vendor}"
    assert body["ingest_token"].startswith("sit_") and len(body["ingest_token"]) > 40
    return body["ingest_token"]


async def post(client: httpx2.AsyncClient, token: str, batch: object, vendor: str = "apple_health") -> httpx2.Response:
    return await client.post(f"/v1/ingest/{vendor}", content=json.dumps(batch),
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})


async def samples(client: httpx2.AsyncClient, user: str, **query: str) -> list[dict]:
    response = await client.get(f"/v1/users/{user}/samples", params={"limit": "500", **query}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()["samples"]


def assert_error(response: httpx2.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert set(response.json()["error"]) <= {"code", "message", "vendor", "retry_after"}


async def test_issue_post_read_and_repeat(tmp_path, clock):
    async with ingest_app(tmp_path, clock) as (engine, client):
        token = await issue(client, "alice")
        first = await post(client, token, HEALTHKIT)
        assert first.status_code == 200, first.text
        # 21 samples in the batch: the FlightsClimbed one has no route, the in-bed one maps to nothing.
        assert first.json() == {"records": 20, "samples": 19, "warnings": 0, "deleted": 0,
                                "ignored": {"HKQuantityTypeIdentifierFlightsClimbed": 1}}
        stored = await samples(client, "alice")
        assert len(stored) == 19
        assert {s["source"] for s in stored} == {"apple_health"}
        assert {s["provenance"]["channel"] for s in stored} == {"push"}  # as the raw archive keeps it
        hrv = [s for s in stored if s["sample_type"] == "hrv_sdnn"]
        assert [(h["sdnn_ms"], h["timestamp_utc"]) for h in hrv] == [(48.3, "2026-03-02T05:58:30Z")]
        assert not [s for s in stored if s["sample_type"] == "hrv_rmssd"]
        heads = await engine.store.raw_heads("apple_health", user_id="alice")
        assert len(heads) == 20 and {h.channel for h in heads} == {"push"}
        # The same batch again (the app retries after a lost answer): each sample replaces itself.
        again = await post(client, token, HEALTHKIT)
        assert again.json()["samples"] == 19
        assert sorted(s["dedup_key"] for s in await samples(client, "alice")) == sorted(s["dedup_key"] for s in stored)
        assert [h.id for h in await engine.store.raw_heads("apple_health", user_id="alice")] == [h.id for h in heads]
        connections = (await client.get("/v1/users/alice/connections", headers=AUTH)).json()["connections"]
        assert [(c["vendor"], c["status"]) for c in connections] == [("apple_health", "active")]


async def test_a_user_named_in_the_body_is_never_believed(tmp_path, clock):
    async with ingest_app(tmp_path, clock) as (_, client):
        token = await issue(client, "alice")
        await issue(client, "mallory")
        forged = {**HEALTHKIT, "user_id": "mallory", "user": "mallory",
                  "samples": [{**s, "metadata": {**s.get("metadata", {}), "user_id": "mallory"}}
                              for s in HEALTHKIT["samples"]]}
        assert (await post(client, token, forged)).status_code == 200
        assert len(await samples(client, "alice")) == 19
        assert await samples(client, "mallory") == []


async def test_deletion_by_uuid_tombstones_the_sample(tmp_path, clock):
    async with ingest_app(tmp_path, clock) as (_, client):
        token = await issue(client, "alice")
        await post(client, token, HEALTHKIT)
        gone = "8B9C0D1E-2F3A-4B4C-9D5E-6F7A8B9C0D1E"  # the SpO2 sample
        deleted = [{"uuid": gone, "type": "HKQuantityTypeIdentifierOxygenSaturation"}]
        answer = await post(client, token, {"platform": "healthkit", "samples": [], "deleted": deleted})
        assert answer.json()["deleted"] == 1
        assert not [s for s in await samples(client, "alice") if s["sample_type"] == "spo2"]
        every = await samples(client, "alice", include_deleted="true")
        assert [(s["sample_type"], s["deleted"]) for s in every if s["sample_type"] == "spo2"] == [("spo2", True)]
        # Health Connect names only the record id: it is looked for in every resource.
        hc = await issue(client, "alice", "health_connect")
        await post(client, hc, HEALTH_CONNECT, "health_connect")
        weight = "6b7e2cdb-9f5d-4b7c-8e4d-3c8f6a9badbc"
        answer = await post(client, hc, {"platform": "health_connect", "records": [],
                                         "deleted": [{"recordId": weight}]}, "health_connect")
        assert answer.json()["deleted"] == 1
        left = await samples(client, "alice", source="health_connect")
        assert len(left) == 19 and "weight" not in {s["sample_type"] for s in left}


async def test_wrong_revoked_and_expired_tokens_are_401(tmp_path, clock):
    async with ingest_app(tmp_path, clock, **{"token_ttl: 365d": "token_ttl: 1d"}) as (engine, client):
        token = await issue(client, "alice")
        assert_error(await post(client, token[:-2] + "xx", HEALTHKIT), 401, "ingest_token_invalid")
        assert_error(await client.post("/v1/ingest/apple_health", json=HEALTHKIT), 401, "ingest_token_invalid")
        assert_error(await post(client, API_KEY, HEALTHKIT), 401, "ingest_token_invalid")  # not the API key
        assert_error(await post(client, token, HEALTH_CONNECT, "health_connect"), 401, "ingest_token_invalid")
        listed = (await client.get("/v1/users/alice/connections/apple_health/tokens", headers=AUTH)).json()["tokens"]
        assert len(listed) == 1 and token not in json.dumps(listed)
        revoked = await client.delete(f"/v1/users/alice/connections/apple_health/tokens/{listed[0]['token_id']}",
                                      headers=AUTH)
        assert revoked.json() == {"token_id": listed[0]["token_id"], "revoked": True}
        assert_error(await post(client, token, HEALTHKIT), 401, "ingest_token_invalid")
        fresh = await issue(client, "alice")
        assert (await post(client, fresh, HEALTHKIT)).status_code == 200
        clock.now += 86400 + 1
        assert_error(await post(client, fresh, HEALTHKIT), 401, "ingest_token_invalid")
        # A disconnect ends every token and the data.
        newest = await issue(client, "alice")
        assert (await client.delete("/v1/users/alice/connections/apple_health", headers=AUTH)).status_code == 200
        assert_error(await post(client, newest, HEALTHKIT), 401, "ingest_token_invalid")
        assert await samples(client, "alice") == []
        # The ingest route takes no API key in place of the token, and the token opens nothing else.
        assert (await client.get("/v1/users/alice/samples", headers={"Authorization": f"Bearer {newest}"})
                ).status_code == 401
        assert engine.spec("apple_health").auth.configured


async def test_bad_batches_are_400_and_unknown_vendors_404(tmp_path, clock):
    async with ingest_app(tmp_path, clock) as (_, client):
        token = await issue(client, "alice")
        for bad in (b"{not json", b"[]", json.dumps({"platform": "health_connect", "records": []}).encode(),
                    json.dumps({"platform": "healthkit", "samples": [{"uuid": "x", "type": "t"}]}).encode()):
            answer = await client.post("/v1/ingest/apple_health", content=bad,
                                       headers={"Authorization": f"Bearer {token}"})
            assert_error(answer, 400, "invalid_batch")
        missing = await post(client, token, {"platform": "healthkit", "samples": [{"type": "t"}]})
        assert "uuid" in missing.json()["error"]["message"]
        assert_error(await post(client, token, HEALTHKIT, "whoop"), 404, "vendor_not_found")


async def test_oversized_batches_are_413(tmp_path, clock):
    async with ingest_app(tmp_path, clock, **{"max_body_bytes: 4194304": "max_body_bytes: 65536"}) as (_, client):
        token = await issue(client, "alice")
        big = {**HEALTHKIT, "samples": HEALTHKIT["samples"] * 6}
        assert len(json.dumps(big)) > 65536
        assert_error(await post(client, token, big), 413, "payload_too_large")
        assert (await post(client, token, HEALTHKIT)).status_code == 200


async def test_each_user_has_a_rate(tmp_path, clock):
    async with ingest_app(tmp_path, clock, **{"rate: {requests: 120, window: 1m}": "rate: {requests: 2, window: 1m}"}
                          ) as (_, client):
        alice, bob = await issue(client, "alice"), await issue(client, "bob")
        assert [(await post(client, alice, HEALTHKIT)).status_code for _ in range(2)] == [200, 200]
        limited = await post(client, alice, HEALTHKIT)
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1
        assert (await post(client, bob, HEALTHKIT)).status_code == 200  # another user's budget
        clock.now += 60
        assert (await post(client, alice, HEALTHKIT)).status_code == 200
