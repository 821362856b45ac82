"""Rendering spec requests into HTTP requests (shared by auth calls and data fetching)."""

from __future__ import annotations

import base64
import json

import httpx2
import pytest

from engine.http import RenderError, TemplateValues, build_request, is_api_url, spec_values
from engine.spec.compile import compile_spec

ENV = {"ACME_ID": "id", "ACME_SECRET": "s3cret", "ACME_TENANT": "t-1"}


def make_spec(requests: dict):
    raw = {
        "spec_version": 1, "id": "acme", "name": "Acme",
        "api": {"base_url": "https://api.acme.test/v2/", "headers": {"X-App": "{client_id}"}, "timeout_s": 7},
        "auth": {"type": "oauth2", "authorize_url": "https://acme.test/a", "token_url": "https://acme.test/t",
                 "client_id": "${ACME_ID}", "client_secret": "${ACME_SECRET}", "post_auth": list(requests.values())},
    }
    spec = compile_spec(raw, env=ENV)
    return spec, dict(zip(requests, spec.auth.post_auth, strict=True))


@pytest.fixture
async def client():
    async with httpx2.AsyncClient() as http:
        yield http


@pytest.mark.anyio
async def test_path_params_headers_and_bearer(client):
    spec, reqs = make_spec({"get": {"path": "/items/{id}",
                                    "params": {"user": "{vendor_user_id}", "t": "{env:ACME_TENANT}"},
                                    "headers": {"X-Req": "r"}}})
    values = TemplateValues(spec_values(spec, id="a/b c", vendor_user_id="42", access_token="tok"), env=ENV)
    request = build_request(client, spec, reqs["get"], values)
    assert request.method == "GET"
    assert str(request.url) == "https://api.acme.test/v2/items/a%2Fb%20c?user=42&t=t-1"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["X-App"] == "id" and request.headers["X-Req"] == "r"
    assert request.extensions["timeout"]["read"] == 7


@pytest.mark.anyio
async def test_json_and_form_bodies_and_basic_auth(client):
    spec, reqs = make_spec({
        "json": {"method": "POST", "url": "https://hooks.acme.test/subscribe", "auth": "none",
                 "json": {"callback": "{webhook_url}", "list": ["{user_id}", 3]}},
        "form": {"method": "POST", "path": "/register", "auth": "basic", "form": {"member-id": "{user_id}"}},
    })
    values = TemplateValues(spec_values(spec, webhook_url="https://e/wh", user_id="u1"))
    request = build_request(client, spec, reqs["json"], values)
    assert str(request.url) == "https://hooks.acme.test/subscribe"
    assert json.loads(request.content) == {"callback": "https://e/wh", "list": ["u1", 3]}
    assert "Authorization" not in request.headers
    request = build_request(client, spec, reqs["form"], values)
    assert request.content == b"member-id=u1"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"id:s3cret").decode()


@pytest.mark.anyio
async def test_missing_values_are_render_errors(client):
    spec, reqs = make_spec({"get": {"path": "/items/{id}"}})
    with pytest.raises(RenderError):
        build_request(client, spec, reqs["get"], TemplateValues(spec_values(spec, access_token="t")))
    with pytest.raises(RenderError):  # bearer without a token
        build_request(client, spec, reqs["get"], TemplateValues(spec_values(spec, id="1")))


def test_api_url_pinning():
    spec, _ = make_spec({})
    assert is_api_url(spec, "https://api.acme.test/v2/x")
    assert not is_api_url(spec, "http://api.acme.test/v2/x")
    assert not is_api_url(spec, "https://api.acme.test.evil.com/x")
    assert not is_api_url(spec, "https://evil.com/?h=api.acme.test")
