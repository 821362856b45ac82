"""Probes, vendor listing, API-key protection, unconfigured vendors and bad requests."""

from __future__ import annotations

import httpx2
import pytest
from starlette.routing import Route

from engine.api.app import create_app
from tests.auth.harness import API_KEY, AUTH, ENVELOPE, engine_client, engine_env

pytestmark = pytest.mark.anyio


async def test_probes_need_no_key(engine_and_client):
    _, client = engine_and_client
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_readyz_reports_an_unreachable_store(engine_and_client):
    engine, client = engine_and_client
    await engine.store.close()
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "store_unavailable"


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY},
    {"Authorization": f"bearer  {API_KEY}x"}, {"Authorization": "Basic Zm9vOmJhcg=="},
])
async def test_v1_routes_need_the_api_key(engine_and_client, headers):
    _, client = engine_and_client
    for method, path in [("GET", "/v1/vendors"), ("POST", "/v1/users/u/connections/whoop"),
                         ("GET", "/v1/users/u/connections"), ("DELETE", "/v1/users/u/connections/whoop"),
                         ("GET", "/v1/does-not-exist")]:
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "unauthorized"


async def test_vendor_listing(engine_and_client):
    _, client = engine_and_client
    response = await client.get("/v1/vendors", headers=AUTH)
    assert response.status_code == 200
    vendors = {v["id"]: v for v in response.json()["vendors"]}
    assert set(vendors) == {"whoop", "oura", ENVELOPE}
    whoop = vendors["whoop"]
    assert whoop["configured"] is True
    assert whoop["redirect_uri"] == "http://127.0.0.1:8000/v1/oauth/whoop/callback"
    assert whoop["capabilities"]["webhooks"] is True
    assert "sleep" in whoop["capabilities"]["resources"]
    assert "sleep.updated" in whoop["capabilities"]["webhook_events"]
    assert vendors[ENVELOPE]["capabilities"]["pkce"] == "required"


async def test_unconfigured_vendor_is_listed_and_its_routes_answer_409(sim, tmp_path, clock):
    env = engine_env(sim, tmp_path)
    del env["OURA_CLIENT_ID"], env["OURA_CLIENT_SECRET"]
    async with engine_client(env, clock) as (_, client):
        vendors = {v["id"]: v for v in (await client.get("/v1/vendors", headers=AUTH)).json()["vendors"]}
        assert vendors["oura"]["configured"] is False and vendors["whoop"]["configured"] is True
        for method, path in [("POST", "/v1/users/u/connections/oura"), ("DELETE", "/v1/users/u/connections/oura"),
                             ("GET", "/v1/oauth/oura/callback?code=c&state=s")]:
            response = await client.request(method, path, headers=AUTH)
            assert response.status_code == 409, (method, path)
            assert response.json()["error"] == {
                "code": "vendor_not_configured", "vendor": "oura",
                "message": "oura is not configured: set its client id and secret in the environment"}
        assert (await client.post("/v1/users/u/connections/whoop", headers=AUTH)).status_code == 201


async def test_unknown_vendor_is_404(engine_and_client):
    _, client = engine_and_client
    for method, path in [("POST", "/v1/users/u/connections/nope"), ("DELETE", "/v1/users/u/connections/nope"),
                         ("GET", "/v1/oauth/nope/callback?code=a&state=b")]:
        response = await client.request(method, path, headers=AUTH)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "vendor_not_found"


@pytest.mark.parametrize("content, code", [
    (b"{not json", "invalid_body"),
    (b"[1, 2]", "invalid_body"),
    (b'{"return_to": 5}', "invalid_body"),
    (b'{"return_to": ""}', "invalid_body"),
    (b"\xff\xfe", "invalid_body"),
])
async def test_bad_connection_bodies_are_400(engine_and_client, content, code):
    _, client = engine_and_client
    response = await client.post("/v1/users/u/connections/whoop", content=content,
                                 headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


async def test_oversized_body_is_413(engine_and_client):
    _, client = engine_and_client
    response = await client.post("/v1/users/u/connections/whoop", content=b'{"a":"' + b"x" * 70_000 + b'"}',
                                 headers=AUTH)
    assert response.status_code == 413


@pytest.mark.parametrize("body", [{}, {"code": "c"}, {"state": "s"}, {"code": 1, "state": "s"}])
async def test_bad_post_callback_bodies_are_400(engine_and_client, body):
    _, client = engine_and_client
    response = await client.post("/v1/oauth/whoop/callback", json=body)
    assert response.status_code == 400


async def test_missing_state_on_callback_is_400(engine_and_client):
    _, client = engine_and_client
    response = await client.get("/v1/oauth/whoop/callback?code=abc")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_state"


async def test_bad_user_ids_are_400(engine_and_client):
    _, client = engine_and_client
    response = await client.post(f"/v1/users/{'u' * 300}/connections/whoop", headers=AUTH)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_user_id"
    response = await client.get("/v1/users/a%01b/connections", headers=AUTH)
    assert response.status_code == 400


async def test_disconnecting_nothing_is_404(engine_and_client):
    _, client = engine_and_client
    response = await client.delete("/v1/users/u/connections/whoop", headers=AUTH)
    assert response.status_code == 404 and response.json()["error"]["code"] == "connection_not_found"


async def test_unknown_route_and_wrong_method_are_json(engine_and_client):
    _, client = engine_and_client
    response = await client.get("/v1/nothing-here", headers=AUTH)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    # Only GET and POST of the callback are public; any other method is a protected /v1 request.
    response = await client.put("/v1/oauth/whoop/callback")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    response = await client.put("/v1/users/u/connections/whoop", headers=AUTH)
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    # the webhook lane takes only what its route allows; the rest falls through to the router,
    # where, as for any path without a public route, the key-checked group answers
    for method, path in (("PUT", "/v1/webhooks/whoop"), ("POST", "/v1/webhooks/whoop/extra")):
        response = await client.request(method, path)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


async def test_unexpected_errors_are_a_json_500_without_details(engine_and_client, caplog):
    engine, _ = engine_and_client

    async def broken(request):
        raise RuntimeError(f"secret-{'detail'}-xyz")

    app = create_app(engine, extra_protected_routes=[Route("/v1/broken", broken)])
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/v1/broken", headers=AUTH)
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "an internal error occurred"}}
    assert "secret-detail-xyz" not in response.text
    assert "secret-detail-xyz" not in caplog.text and "RuntimeError" in caplog.text
