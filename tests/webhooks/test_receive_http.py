"""Real-format deliveries through the ASGI app into a real SQLite store."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from engine.spec.compile import compile_spec
from tests.webhooks.app_helpers import client, inbox_rows, make_app
from tests.webhooks.conftest import (
    FITBIT_CODE,
    FITBIT_SECRET,
    OURA_SECRET,
    OURA_TOKEN,
    RUNTIME_ENV,
    SPEC_ENV,
    WHOOP_SECRET,
    connect,
    load,
)
from tests.webhooks.signers import fitbit_headers, oura_headers, whoop_headers

pytestmark = pytest.mark.anyio


def now_ms() -> int:
    return int(time.time() * 1000)


def whoop_body(trace: str = "trace-1", *, user=10129, object_id="ecfc6a15-4661-442f-a9a4-f160dd7afae8",
               kind="sleep.updated") -> bytes:
    return json.dumps({"user_id": user, "id": object_id, "type": kind, "trace_id": trace}).encode()


async def test_whoop_delivery_becomes_one_job_and_replay_adds_none(specs, store, tmp_path):
    await connect(store, "whoop", "app-user-1", "10129")
    body = whoop_body()
    async with client(make_app(specs, store)) as http:
        first = await http.post("/v1/webhooks/whoop", content=body, headers=whoop_headers(WHOOP_SECRET, body, now_ms()))
        again = await http.post("/v1/webhooks/whoop", content=body, headers=whoop_headers(WHOOP_SECRET, body, now_ms()))
    assert first.status_code == 200 and first.json() == {"received": 1, "new": 1, "jobs": 1}
    assert again.status_code == 200 and again.json() == {"received": 1, "new": 0, "jobs": 0}
    jobs = await store.list_jobs()
    assert len(jobs) == 1
    payload = dict(jobs[0].payload)
    assert jobs[0].kind == "webhook_event" and jobs[0].user_id == "app-user-1"
    keys = ("vendor", "vendor_user_id", "event_type", "object_id", "action", "resource", "by")
    assert {k: payload[k] for k in keys} == {
        "vendor": "whoop", "vendor_user_id": "10129", "event_type": "sleep.updated",
        "object_id": "ecfc6a15-4661-442f-a9a4-f160dd7afae8", "action": "fetch", "resource": "sleep", "by": "id"}
    assert len(inbox_rows(tmp_path / "data")) == 1


async def test_whoop_v1_integer_ids_work(specs, store):
    await connect(store, "whoop", "u", "77")
    body = b'{"user_id": 77, "id": 123456789, "type": "workout.deleted", "trace_id": "t-int"}'
    async with client(make_app(specs, store)) as http:
        response = await http.post("/v1/webhooks/whoop", content=body,
                                   headers=whoop_headers(WHOOP_SECRET, body, now_ms()))
    assert response.status_code == 200
    (job,) = await store.list_jobs()
    assert job.payload["object_id"] == "123456789" and job.payload["action"] == "delete"


@pytest.mark.parametrize("case", ["tampered", "wrong_key", "stale", "future", "no_signature", "no_timestamp"])
async def test_whoop_rejections(specs, store, case):
    body = whoop_body()
    stamp = now_ms()
    headers = whoop_headers(WHOOP_SECRET, body, stamp)
    sent = body
    if case == "tampered":
        sent = body.replace(b"sleep.updated", b"sleep.deleted")
    elif case == "wrong_key":
        headers = whoop_headers("not-the-secret", body, stamp)
    elif case == "stale":
        headers = whoop_headers(WHOOP_SECRET, body, stamp - 301_000)
    elif case == "future":
        headers = whoop_headers(WHOOP_SECRET, body, stamp + 301_000)
    elif case == "no_signature":
        del headers["X-WHOOP-Signature"]
    else:
        del headers["X-WHOOP-Signature-Timestamp"]
    async with client(make_app(specs, store)) as http:
        response = await http.post("/v1/webhooks/whoop", content=sent, headers=headers)
    assert response.status_code in (400, 401)
    assert response.json()["error"]["code"] and response.json()["error"]["message"]
    assert await store.list_jobs() == []


async def test_oura_delivery_and_challenge_handshake(specs, store):
    await connect(store, "oura", "app-user-2", "oura-user-9")
    body = json.dumps({"event_type": "update", "data_type": "daily_sleep", "object_id": "ds-1",
                       "event_time": "2024-01-01T08:00:00+00:00", "user_id": "oura-user-9"}).encode()
    async with client(make_app(specs, store)) as http:
        ok = await http.get("/v1/webhooks/oura", params={"verification_token": OURA_TOKEN, "challenge": "c-123"})
        bad = await http.get("/v1/webhooks/oura", params={"verification_token": "wrong", "challenge": "c-123"})
        delivered = await http.post("/v1/webhooks/oura", content=body,
                                    headers=oura_headers(OURA_SECRET, body, int(time.time())))
        tampered = await http.post("/v1/webhooks/oura", content=body + b" ",
                                   headers=oura_headers(OURA_SECRET, body, int(time.time())))
    assert ok.status_code == 200 and ok.json() == {"challenge": "c-123"}
    assert bad.status_code == 401
    assert delivered.status_code == 200 and delivered.json()["jobs"] == 1
    assert tampered.status_code == 401
    (job,) = await store.list_jobs()
    assert job.payload["event_type"] == "daily_sleep.update" and job.payload["resource"] == "daily_sleep"
    # Oura gives no event id: the key is a hash of the event, so a replay is still recognised.
    assert job.payload["event_key"].startswith("sha256:")


async def test_fitbit_style_array_verify_code_and_windows(specs, store, tmp_path):
    await connect(store, "fitbit_style", "app-user-3", "228TQ4")
    events = [
        {"collectionType": "activities", "date": "2024-03-01", "ownerId": "228TQ4", "ownerType": "user",
         "subscriptionId": "1"},
        {"collectionType": "sleep", "date": "2024-03-01", "ownerId": "228TQ4", "ownerType": "user",
         "subscriptionId": "1"},
        {"collectionType": "foods", "date": "2024-03-01", "ownerId": "228TQ4", "ownerType": "user",
         "subscriptionId": "1"},
        {"collectionType": "activities", "date": "2024-03-02", "ownerId": "UNKNOWN", "ownerType": "user",
         "subscriptionId": "2"},
    ]
    body = json.dumps(events).encode()
    async with client(make_app(specs, store)) as http:
        good_code = await http.get("/v1/webhooks/fitbit_style", params={"verify": FITBIT_CODE})
        bad_code = await http.get("/v1/webhooks/fitbit_style", params={"verify": "nope"})
        delivered = await http.post("/v1/webhooks/fitbit_style", content=body,
                                    headers=fitbit_headers(FITBIT_SECRET, body))
        wrong = await http.post("/v1/webhooks/fitbit_style", content=body, headers=fitbit_headers("other", body))
    assert good_code.status_code == 204 and bad_code.status_code == 404
    assert wrong.status_code == 401
    # Four events kept; the unknown data type and the unknown user are stored but get no job.
    assert delivered.status_code == 200 and delivered.json() == {"received": 4, "new": 4, "jobs": 2}
    jobs = sorted((await store.list_jobs()), key=lambda j: j.payload["resource"])
    assert [(j.payload["resource"], j.payload["by"], j.payload["window"]) for j in jobs] == [
        ("activities", "window", {"start": "2024-03-01", "end": "2024-03-01"}),
        ("sleep", "window", {"start": "2024-03-01", "end": "2024-03-01"}),
    ]
    rows = inbox_rows(tmp_path / "data")
    assert len(rows) == 4
    assert next(r for r in rows if r[3] == "UNKNOWN")[5] is None


async def test_secret_rotation_accepts_old_and_new(store):
    spec = load("whoop", {**SPEC_ENV, "WHOOP_CLIENT_SECRET": "new-secret, old-secret"})
    await connect(store, "whoop", "u", "10129")
    async with client(make_app({"whoop": spec}, store)) as http:
        codes = []
        for i, key in enumerate(["new-secret", "old-secret", "retired-secret"]):
            body = whoop_body(f"rot-{i}")
            codes.append((await http.post("/v1/webhooks/whoop", content=body,
                                          headers=whoop_headers(key, body, now_ms()))).status_code)
    assert codes == [200, 200, 401]


async def test_unknown_vendor_unconfigured_vendor_and_methods(specs, store):
    unconfigured = load("whoop", {"WHOOP_CLIENT_ID": "x"})
    body = whoop_body()
    async with client(make_app({**specs, "bare": unconfigured}, store)) as http:
        assert (await http.post("/v1/webhooks/nobody", content=b"{}")).status_code == 404
        missing = await http.post("/v1/webhooks/bare", content=body, headers=whoop_headers("x", body, now_ms()))
        assert missing.status_code == 409 and "not configured" in missing.json()["error"]["message"]
        assert (await http.head("/v1/webhooks/whoop")).status_code == 405
        assert (await http.get("/v1/webhooks/whoop")).status_code == 404
        assert (await http.put("/v1/webhooks/whoop")).status_code == 405


async def test_unknown_event_type_is_stored_and_acknowledged(specs, store, tmp_path):
    await connect(store, "whoop", "u", "10129")
    body = whoop_body(kind="menstrual_cycle.updated")
    async with client(make_app(specs, store)) as http:
        response = await http.post("/v1/webhooks/whoop", content=body,
                                   headers=whoop_headers(WHOOP_SECRET, body, now_ms()))
    assert response.status_code == 200 and response.json()["jobs"] == 0
    assert await store.list_jobs() == []
    assert inbox_rows(tmp_path / "data")[0][2] == "menstrual_cycle.updated"


@pytest.mark.parametrize("body", [b"\xff\xfe not utf-8", b"{not json", b"[" * 5000, b""])
async def test_undecodable_but_signed_body_is_400(specs, store, body):
    async with client(make_app(specs, store)) as http:
        response = await http.post("/v1/webhooks/fitbit_style", content=body,
                                   headers=fitbit_headers(FITBIT_SECRET, body))
    assert response.status_code == 400


async def test_non_ascii_and_oversized_headers_are_400(specs, store):
    body = whoop_body()
    async with client(make_app(specs, store)) as http:
        accented = await http.post("/v1/webhooks/whoop", content=body, headers={
            "X-WHOOP-Signature": "é".encode(), "X-WHOOP-Signature-Timestamp": str(now_ms())})
        huge = await http.post("/v1/webhooks/whoop", content=body, headers={
            "X-WHOOP-Signature": "A" * 10_000, "X-WHOOP-Signature-Timestamp": str(now_ms())})
    assert accented.status_code == 400 and huge.status_code == 400


async def test_body_cap_413_with_and_without_content_length(specs, store):
    big = b"[" + b"0," * 140_000 + b"0]"
    assert len(big) > 262_144

    async def chunks():
        for i in range(0, len(big), 65_536):
            yield big[i : i + 65_536]

    async with client(make_app(specs, store)) as http:
        declared = await http.post("/v1/webhooks/fitbit_style", content=big, headers=fitbit_headers(FITBIT_SECRET, big))
        streamed = await http.post("/v1/webhooks/fitbit_style", content=chunks(),
                                   headers=fitbit_headers(FITBIT_SECRET, big))
    assert declared.status_code == 413 and streamed.status_code == 413


async def test_store_down_is_503(specs, store):
    body = whoop_body()
    app = make_app(specs, store)
    await store.close()
    async with client(app) as http:
        response = await http.post("/v1/webhooks/whoop", content=body,
                                   headers=whoop_headers(WHOOP_SECRET, body, now_ms()))
    assert response.status_code == 503 and response.headers["retry-after"]


async def test_thousand_concurrent_distinct_deliveries_make_thousand_jobs(specs, store, tmp_path):
    await connect(store, "whoop", "u", "10129")
    async with client(make_app(specs, store)) as http:
        async def deliver(i: int) -> int:
            body = whoop_body(f"trace-{i}", object_id=f"obj-{i}")
            response = await http.post("/v1/webhooks/whoop", content=body,
                                       headers=whoop_headers(WHOOP_SECRET, body, now_ms()))
            return response.status_code

        codes = await asyncio.gather(*(deliver(i) for i in range(1000)))
        replays = await asyncio.gather(*(deliver(i) for i in range(0, 1000, 10)))
    assert codes == [200] * 1000 and replays == [200] * 100
    assert (await store.count_jobs())["queued"] == 1000
    assert len(inbox_rows(tmp_path / "data")) == 1000


def _inline_spec(webhooks: dict, resources: dict | None = None):
    raw = {
        "spec_version": 1, "id": "inline", "name": "Inline",
        "api": {"base_url": "https://api.inline.example"},
        "auth": {"type": "oauth2", "authorize_url": "https://api.inline.example/a",
                 "token_url": "https://api.inline.example/t", "client_id": "${INLINE_ID}",
                 "client_secret": "${INLINE_SECRET}", "scopes": ["x"]},
        "webhooks": webhooks,
        "resources": resources or {"things": {"list": {"request": {"path": "/things"}, "records": "data",
                                                       "paginate": {"type": "none"}, "window": {"max": "1d"}},
                                              "get": {"request": {"path": "/things/{id}"}}}},
    }
    return compile_spec(raw, env={"INLINE_ID": "id", "INLINE_SECRET": "sec", "INLINE_AUTH": "Bearer shared"})


async def test_form_body_head_handshake_and_unsigned_delivery(store):
    spec = _inline_spec({
        "body": "form", "verify": {"type": "none", "reason": "vendor does not sign"},
        "handshakes": [{"type": "head"}],
        "events": {"user": "userid", "type": "appli", "window_start": "startdate", "window_end": "enddate",
                   "time_format": "epoch_s"},
        "on": {"44": {"fetch": "things", "by": "window"}},
    })
    await connect(store, "inline", "u", "12345")
    body = b"userid=12345&appli=44&startdate=1530576000&enddate=1530698753"
    async with client(make_app({"inline": spec}, store, env={})) as http:
        head = await http.head("/v1/webhooks/inline")
        posted = await http.post("/v1/webhooks/inline", content=body,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert head.status_code == 200 and posted.status_code == 200
    (job,) = await store.list_jobs()
    assert job.payload["window"] == {"start": "2018-07-03T00:00:00Z", "end": "2018-07-04T10:05:53Z"}


async def test_ping_verification_and_header_equals(store):
    spec = _inline_spec({
        "verify": {"type": "header_equals", "header": "Authorization", "value": "{env:INLINE_AUTH}"},
        "handshakes": [{"type": "verification", "when": "type == 'verification'"},
                       {"type": "ping", "when": "event == 'PING'", "verify": False}],
        "events": {"select": "data", "user": "healthUserId", "type": "operation", "id": "id"},
        "on": {"DELETE": {"delete": "things"}},
    })
    env = {"INLINE_AUTH": "Bearer shared"}
    async with client(make_app({"inline": spec}, store, env=env)) as http:
        verified = await http.post("/v1/webhooks/inline", json={"type": "verification"},
                                   headers={"Authorization": "Bearer shared"})
        refused = await http.post("/v1/webhooks/inline", json={"type": "verification"})
        ping = await http.post("/v1/webhooks/inline", json={"event": "PING"})
        unauthorized = await http.post("/v1/webhooks/inline",
                                       json={"data": {"healthUserId": "h", "operation": "DELETE", "id": 1}},
                                       headers={"Authorization": "Bearer guess"})
    statuses = (verified.status_code, refused.status_code, ping.status_code, unauthorized.status_code)
    assert statuses == (201, 401, 200, 401)
    assert await store.list_jobs() == []


async def test_callback_url_must_point_at_the_vendor_api(store):
    spec = _inline_spec({
        "verify": {"type": "none"},
        "events": {"select": "dailies", "user": "userId", "type": "'dailies'", "callback_url": "callbackURL"},
        "on": {"dailies": {"fetch": "things", "by": "callback_url"}},
    })
    await connect(store, "inline", "u", "g-1")
    body = {"dailies": [{"userId": "g-1", "callbackURL": "https://api.inline.example/things?from=1"},
                        {"userId": "g-1", "callbackURL": "https://attacker.example/steal"}]}
    async with client(make_app({"inline": spec}, store, env={})) as http:
        response = await http.post("/v1/webhooks/inline", json=body)
    assert response.json() == {"received": 2, "new": 2, "jobs": 1}
    (job,) = await store.list_jobs()
    assert job.payload["callback_url"] == "https://api.inline.example/things?from=1"


def test_runtime_env_is_what_the_handshakes_read():
    assert set(RUNTIME_ENV) == {"OURA_WEBHOOK_VERIFICATION_TOKEN", "FITBIT_STYLE_VERIFY_CODE"}
