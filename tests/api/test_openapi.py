"""`/openapi.json` is built from the routes' own declarations: it is valid OpenAPI 3.1, names
every `/v1` route, and says how each is secured; `/docs` is the packaged page that reads it."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from engine.api.app import create_app
from engine.api.openapi import _walk, undeclared_routes
from tests.auth.harness import AUTH
from tests.e2e.helpers import engine_app

pytestmark = pytest.mark.anyio


async def document(client) -> dict:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_the_document_is_valid_openapi_and_covers_every_v1_route(env, sim, clock):
    async with engine_app(env, clock) as (engine, client):
        doc = await document(client)
        validate(doc)
        assert doc["openapi"] == "3.1.0"
        app = create_app(engine)
        assert undeclared_routes(app.routes) == []
        routed = {(path, method.lower()) for path, route in _walk(app.routes) if path.startswith("/v1")
                  for method in route.methods or () if method != "HEAD"}
        documented = {(path, method) for path, item in doc["paths"].items() if path.startswith("/v1")
                      for method in item if method != "head"}
        assert documented == routed
        assert "head" in doc["paths"]["/v1/webhooks/{vendor}"]  # a handshake of its own


async def test_security_and_error_shapes(env, sim, clock):
    async with engine_app(env, clock) as (_, client):
        doc = await document(client)
        assert doc["components"]["securitySchemes"]["bearerAuth"] == {
            "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]
            ["bearerAuth"]["description"]}
        public = {(p, m) for p, item in doc["paths"].items() for m, op in item.items() if op["security"] == []}
        assert public == {("/healthz", "get"), ("/readyz", "get"), ("/openapi.json", "get"), ("/docs", "get"),
                          ("/v1/oauth/{vendor}/callback", "get"), ("/v1/oauth/{vendor}/callback", "post"),
                          ("/v1/reconnect/{vendor}", "get"),  # a signed link the user opens
                          ("/v1/ingest/{vendor}", "post"),  # the user's ingest token, never the API key
                          ("/v1/webhooks/{vendor}", "get"), ("/v1/webhooks/{vendor}", "post"),
                          ("/v1/webhooks/{vendor}", "head")}
        error = doc["components"]["schemas"]["Error"]
        assert "401 unauthorized" in error["properties"]["error"]["properties"]["code"]["description"]
        assert "401 webhook_unauthenticated" in error["properties"]["error"]["properties"]["code"]["description"]
        for item in doc["paths"].values():
            for op in item.values():
                assert op["responses"]["default"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}
        # Every body the API reads is described, the sync request's among them.
        sync = doc["paths"]["/v1/users/{user_id}/connections/{vendor}/sync"]["post"]["requestBody"]
        assert sync["required"] is True
        assert sync["content"]["application/json"]["schema"]["required"] == ["since"]
        assert set(sync["content"]["application/json"]["schema"]["properties"]) == {"since", "until", "resources"}
        callback = doc["paths"]["/v1/oauth/{vendor}/callback"]["post"]["requestBody"]
        assert callback["content"]["application/json"]["schema"]["required"] == ["code", "state"]
        connect = doc["paths"]["/v1/users/{user_id}/connections/{vendor}"]["post"]["requestBody"]
        assert connect["required"] is False


async def test_an_actual_answer_matches_its_declared_schema(env, sim, clock):
    """A spot check by hand (Schemathesis covers the rest): the vendors list and an error."""
    from jsonschema import Draft202012Validator

    async with engine_app(env, clock) as (_, client):
        doc = await document(client)
        vendors = await client.get("/v1/vendors", headers=AUTH)
        schema = doc["paths"]["/v1/vendors"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        Draft202012Validator(schema).validate(vendors.json())
        assert {v["id"] for v in vendors.json()["vendors"]} == {"whoop", "oura", "envelope_basic_pkce"}
        missing = await client.get("/v1/syncs/nope", headers=AUTH)
        assert missing.status_code == 404
        Draft202012Validator(doc["components"]["schemas"]["Error"]).validate(missing.json())


async def test_docs_page_is_packaged_and_self_contained(env, sim, clock):
    async with engine_app(env, clock) as (_, client):
        page = await client.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert 'fetch("openapi.json")' in page.text
        # no other origin: no script, style or font from elsewhere
        assert "http://" not in page.text and "https://" not in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
