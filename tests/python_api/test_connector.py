"""`engine.connector(vendor)`: the Python API over a real store and the local Acme vendor.
The happy paths are also run by the guide's examples (tests/docs/test_python_examples.py); here
are the refusals, the error taxonomy and mounting."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from engine.api.app import create_app
from engine.engine import Engine, Settings
from engine.errors import (
    BadRequest,
    ConnectionNotFound,
    RateLimited,
    TokenError,
    Unavailable,
    VendorApiError,
    VendorNotFound,
    WebhookError,
)
from engine.fetch.ratelimit import RateGovernor
from engine.python_api import Connector, WebhookOutcome
from tests.docs.acme_vendor import CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET, serve_acme, sign
from tests.docs.markdown import file_block

ACCESS, REFRESH = "py-access-token", "py-refresh-token"
pytestmark = pytest.mark.anyio


@pytest.fixture
def acme():
    with serve_acme() as running:
        yield running


@pytest.fixture
async def engine(tmp_path: Path, acme) -> AsyncIterator[Engine]:
    url, _ = acme
    (tmp_path / "vendors").mkdir()
    (tmp_path / "vendors" / "acme.yaml").write_text(file_block("vendors/acme.yaml").text)
    env = {"ENGINE_VENDORS_DIR": str(tmp_path / "vendors"), "ENGINE_DATA_DIR": str(tmp_path / "data"),
           "ENGINE_SECRET_KEY": "python-api-test-secret-key-0123456789", "ACME_API_BASE": url,
           "ACME_CLIENT_ID": CLIENT_ID, "ACME_CLIENT_SECRET": CLIENT_SECRET,
           "ACME_WEBHOOK_SECRET": WEBHOOK_SECRET, "ENGINE_PUBLIC_URL": "http://127.0.0.1:8000/wearables"}
    async with Engine(Settings.from_env(env)) as opened:
        yield opened


async def connect(engine: Engine, acme_state) -> Connector:
    acme_state.tokens[ACCESS] = "acme-42"
    acme_state.refresh_tokens[REFRESH] = "acme-42"
    await engine.store.upsert_connection("acme", "alice", vendor_user_id="acme-42", scopes=["sleep"],
                                         access_token=ACCESS, refresh_token=REFRESH,
                                         token_expires_at=time.time() + 3600)
    return engine.connector("acme")


async def test_unknown_vendor_and_missing_connection_are_typed_errors(engine):
    with pytest.raises(VendorNotFound) as raised:
        engine.connector("nosuch")
    assert raised.value.code == "vendor_not_found" and raised.value.status == 404
    acme = engine.connector("acme")
    with pytest.raises(ConnectionNotFound):
        await acme.fetch("nobody", "sleep", since=datetime.now(UTC) - timedelta(days=1))
    with pytest.raises(ConnectionNotFound):
        await acme.refresh_if_needed("nobody")
    assert await acme.connection("nobody") is None


async def test_bad_arguments_are_bad_requests(engine, acme):
    connector = await connect(engine, acme[1])
    with pytest.raises(BadRequest):
        await connector.fetch("alice", "sleep")  # neither id nor since
    with pytest.raises(BadRequest):
        await connector.fetch("alice", "sleep", since=datetime(2026, 1, 1))  # naive
    with pytest.raises(BadRequest):
        await connector.fetch("alice", "no_such_resource", id="1")
    with pytest.raises(BadRequest):
        await connector.backfill("alice", since=datetime.now(UTC) + timedelta(days=1))


async def test_fetch_follows_every_page_and_records_the_pull(engine, acme):
    connector = await connect(engine, acme[1])
    records = await connector.fetch("alice", "sleep", since=datetime.now(UTC) - timedelta(days=5))
    assert [r["id"] for r in records] == ["sleep-1", "sleep-2", "sleep-3"]  # two pages of two
    assert (await connector.connection("alice")).last_pull_at is not None
    samples = await connector.fetch_samples("alice", "sleep", id="sleep-2")
    assert samples[0]["asleep_s"] == 422 * 60 and samples[0]["user_id"] == "alice"


async def test_a_refused_refresh_is_a_token_error(engine, acme):
    connector = await connect(engine, acme[1])
    acme[1].refresh_tokens.clear()
    with pytest.raises(TokenError) as raised:
        await connector.refresh_if_needed("alice", force=True)
    assert raised.value.code == "reauth_required"
    assert (await connector.connection("alice")).status == "reauth_required"


async def test_a_vendor_error_is_a_vendor_api_error(engine, acme):
    connector = await connect(engine, acme[1])
    with pytest.raises(VendorApiError) as raised:
        await connector.fetch("alice", "sleep", id="no-such-sleep")
    assert raised.value.code == "vendor_record_gone" and raised.value.vendor == "acme"


async def test_an_exhausted_budget_is_rate_limited_with_retry_after(engine, acme):
    connector = await connect(engine, acme[1])
    governor = RateGovernor(engine.spec("acme"), engine.store)
    await engine.store.penalize_budget(governor.penalty_keys("alice")[0], time.time() + 600)
    with pytest.raises(RateLimited) as raised:
        await connector.fetch("alice", "sleep", id="sleep-1")
    assert raised.value.status == 429 and 500 < raised.value.retry_after <= 600
    status = await connector.rate_limits("alice")
    assert 500 < status.backoff_s <= 600 and [b.scope for b in status.budgets] == ["app", "user"]


async def test_webhook_refusals_carry_status_and_code(engine):
    connector = engine.connector("acme")
    body = b'{"event_id":"e1","user_id":"acme-42","type":"sleep.created","object_id":"sleep-1"}'
    with pytest.raises(WebhookError) as raised:
        await connector.verify_webhook(sign(body, secret="wrong"), body)
    assert (raised.value.status, raised.value.code) == (401, "webhook_unauthenticated")
    stale = sign(body, timestamp=int(time.time()) - 3600)
    with pytest.raises(WebhookError) as raised:
        await connector.process_webhook(stale, body)
    assert raised.value.status == 401 and "too old" in raised.value.message
    with pytest.raises(WebhookError) as raised:
        connector.parse_events(b"{not json")
    assert raised.value.code == "invalid_webhook"
    events = connector.parse_events(json.dumps({"event_id": 7, "user_id": 42, "type": "sleep.created",
                                                "object_id": 9}).encode())
    assert (events[0].event_id, events[0].vendor_user_id, events[0].object_id) == ("7", "42", "9")


async def test_process_webhook_dedupes_and_queues_for_a_connected_user(engine, acme):
    connector = await connect(engine, acme[1])
    body = b'{"event_id":"e2","user_id":"acme-42","type":"sleep.updated","object_id":"sleep-1"}'
    first = await connector.process_webhook(sign(body), body)
    assert isinstance(first, WebhookOutcome) and first.status == 200
    assert (first.received, first.new, first.jobs) == (1, 1, 1)
    again = await connector.process_webhook(sign(body), body)
    assert (again.new, again.jobs) == (0, 0)


async def test_a_store_outage_is_unavailable(engine, acme):
    connector = await connect(engine, acme[1])
    await engine.store.close()
    body = b'{"event_id":"e3","user_id":"acme-42","type":"sleep.updated","object_id":"sleep-1"}'
    with pytest.raises(Unavailable) as raised:
        await connector.process_webhook(sign(body), body)
    assert raised.value.retry_after and raised.value.status == 503


async def test_the_app_mounts_under_a_prefix_in_starlette(engine):
    wearables = create_app(engine)
    parent = Starlette(routes=[Route("/", lambda request: PlainTextResponse("mine")),
                               Mount("/wearables", app=wearables)])
    async with wearables.router.lifespan_context(wearables):
        transport = httpx2.ASGITransport(app=parent)
        async with httpx2.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/")).text == "mine"
            assert (await client.get("/wearables/healthz")).json() == {"status": "ok"}
            vendors = (await client.get("/wearables/v1/vendors")).json()["vendors"]
            assert vendors[0]["redirect_uri"] == "http://127.0.0.1:8000/wearables/v1/oauth/acme/callback"
            body = b'{"event_id":"e4","user_id":"acme-42","type":"sleep.created","object_id":"sleep-1"}'
            answer = await client.post("/wearables/v1/webhooks/acme", content=body, headers=sign(body))
            assert answer.status_code == 200 and answer.json()["received"] == 1
            started = await client.post("/wearables/v1/users/alice/connections/acme")
            assert started.status_code == 201
            assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A8000%2Fwearables%2Fv1%2Foauth%2Facme%2Fcallback" \
                in started.json()["authorization_url"]
