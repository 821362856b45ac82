"""End to end through the real ASGI app and the vendor simulator, with the shipped specs
unmodified: connect -> callback -> connection listed -> refresh -> disconnect."""

from __future__ import annotations

import pytest

from tests.auth.harness import AUTH, ENVELOPE, VENDORS, consent, query_of, start
from tests.auth.harness import connect as run_connect

pytestmark = pytest.mark.anyio

SIM_PROFILE = {"whoop": "whoop", "oura": "oura", ENVELOPE: "withings"}


@pytest.mark.parametrize("vendor", VENDORS)
async def test_full_lifecycle(vendor, engine_and_client, sim, clock):
    engine, client = engine_and_client
    profile = SIM_PROFILE[vendor]

    callback = await run_connect(client, vendor, "user-1")
    assert callback.status_code == 200, callback.text
    body = callback.json()
    assert body["status"] == "connected" and body["vendor"] == vendor and body["user_id"] == "user-1"
    assert body["vendor_user_id"]

    listed = await client.get("/v1/users/user-1/connections", headers=AUTH)
    assert listed.status_code == 200
    [row] = listed.json()["connections"]
    assert row["vendor"] == vendor and row["status"] == "active"
    assert row["vendor_user_id"] == body["vendor_user_id"]
    assert "access_token" not in row and "refresh_token" not in row

    before = await engine.store.get_connection(vendor, "user-1")
    calls_before = sim.state.token_calls(profile)
    # Within the refresh margin of expiry: the next use refreshes proactively.
    clock.advance(before.token_expires_at - clock() - 30)
    fresh = await engine.oauth.fresh_connection(vendor, "user-1")
    assert sim.state.token_calls(profile) == calls_before + 1
    assert fresh.access_token != before.access_token
    assert fresh.token_version == before.token_version + 1
    assert fresh.token_expires_at > clock() + 600
    stored = await engine.store.get_connection(vendor, "user-1")
    assert stored.access_token == fresh.access_token
    assert stored.refresh_token == fresh.refresh_token
    assert sim.state.valid_access(profile, fresh.access_token) is not None

    # A fresh token is used as it is, without another token call.
    await engine.oauth.fresh_connection(vendor, "user-1")
    assert sim.state.token_calls(profile) == calls_before + 1

    deleted = await client.delete(f"/v1/users/user-1/connections/{vendor}", headers=AUTH)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["status"] == "revoked"
    has_revoke = engine.spec(vendor).auth.revoke is not None
    assert deleted.json()["revoked_at_vendor"] is has_revoke
    if has_revoke:
        assert sim.state.valid_access(profile, fresh.access_token) is None
    gone = await engine.store.get_connection(vendor, "user-1")
    assert gone.status == "revoked" and gone.access_token is None and gone.refresh_token is None
    listed = (await client.get("/v1/users/user-1/connections", headers=AUTH)).json()["connections"]
    assert [c["status"] for c in listed] == ["revoked"]


async def test_authorization_url_follows_the_spec(engine_and_client, sim):
    _, client = engine_and_client
    response = await client.post("/v1/users/u/connections/whoop", headers=AUTH)
    assert response.status_code == 201
    assert response.json()["expires_at"].endswith("Z")
    query = query_of(response.json()["authorization_url"])
    assert query["scope"].split(" ")[0] == "offline"
    assert query["redirect_uri"] == "http://127.0.0.1:8000/v1/oauth/whoop/callback"
    assert query["response_type"] == "code" and query["client_id"] == sim.state.client("whoop").client_id
    assert len(query["state"]) >= 32
    assert "code_challenge" not in query


async def test_envelope_vendor_uses_pkce_comma_scopes_and_basic_auth(engine_and_client, sim):
    _, client = engine_and_client
    url = (await client.post(f"/v1/users/u/connections/{ENVELOPE}", headers=AUTH)).json()["authorization_url"]
    query = query_of(url)
    assert query["scope"] == "user.info,user.metrics,user.activity"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    callback = await run_connect(client, ENVELOPE, "u2")
    assert callback.status_code == 200, callback.text
    [token_call] = [c for c in sim.state.calls_to("withings", "/v2/oauth2") if c.status == 200]
    assert token_call.headers["authorization"].startswith("Basic ")
    assert b"client_secret" not in token_call.body and b"code_verifier=" in token_call.body


async def test_mobile_post_callback(engine_and_client):
    _, client = engine_and_client
    callback = await consent(await start(client, "oura", "mobile-user"))
    query = query_of(callback)
    response = await client.post("/v1/oauth/oura/callback", json={"code": query["code"], "state": query["state"]})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "connected" and response.json()["user_id"] == "mobile-user"


async def test_return_to_redirect_on_success_and_on_vendor_error(engine_and_client, sim):
    _, client = engine_and_client
    response = await run_connect(client, "whoop", "u-r", {"return_to": "https://app.example.com/done?x=1"})
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith("https://app.example.com/done?x=1&")
    assert query_of(location) == {"x": "1", "status": "connected", "vendor": "whoop"}

    sim.state.next_authorize("whoop", error="access_denied")
    response = await run_connect(client, "whoop", "u-denied", {"return_to": "https://app.example.com/done"})
    assert response.status_code == 302
    assert query_of(response.headers["location"]) == {
        "status": "error", "vendor": "whoop", "error": "access_denied"}


async def test_vendor_error_without_return_to_is_json(engine_and_client, sim):
    _, client = engine_and_client
    sim.state.next_authorize("oura", error="access_denied")
    response = await run_connect(client, "oura", "u-denied")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "access_denied"
    assert response.json()["error"]["vendor"] == "oura"


async def test_post_auth_and_on_disconnect_requests(engine_and_client, sim):
    engine, client = engine_and_client
    assert (await run_connect(client, ENVELOPE, "u-sub")).status_code == 200
    webhook_url = engine.webhook_url(ENVELOPE)
    subscriptions = sim.state.subscriptions["withings"]
    assert [s["callbackurl"] for s in subscriptions] == [webhook_url]
    deleted = await client.delete(f"/v1/users/u-sub/connections/{ENVELOPE}", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json()["errors"] == []
    assert sim.state.subscriptions["withings"] == []


async def test_refused_post_auth_request_fails_the_connection(engine_and_client, sim):
    engine, client = engine_and_client
    sim.state.verify_callbacks = True  # the vendor's HEAD check of our callback URL fails
    response = await run_connect(client, ENVELOPE, "u-sub", {"return_to": "https://app.example.com/x"})
    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "post_auth_failed"
    connection = await engine.store.get_connection(ENVELOPE, "u-sub")
    assert connection.status == "reauth_required" and "post_auth" in connection.last_error
