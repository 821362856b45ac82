"""Reading token-endpoint answers through a spec's `token_response` rules."""

from __future__ import annotations

import httpx2
import pytest

from engine.auth.token_endpoint import FALLBACK_EXPIRES_IN_S, InvalidGrant, read_token_response
from engine.errors import OAuthError, RateLimited, VendorApiError
from engine.spec.compile import compile_spec

NOW = 1_800_000_000.0


def spec(token_response: dict | None = None, **auth: object):
    raw = {
        "spec_version": 1, "id": "acme", "name": "Acme", "api": {"base_url": "https://api.acme.test"},
        "auth": {"type": "oauth2", "authorize_url": "https://acme.test/a", "token_url": "https://acme.test/t",
                 "client_id": "${ACME_ID}", "client_secret": "${ACME_SECRET}", **auth},
    }
    if token_response is not None:
        raw["auth"]["token_response"] = token_response
    return compile_spec(raw, env={"ACME_ID": "id", "ACME_SECRET": "secret"})


def response(body, status: int = 200, headers: dict | None = None) -> httpx2.Response:
    return httpx2.Response(status, json=body, headers=headers)


def test_plain_answer():
    tokens = read_token_response(spec(), response(
        {"access_token": "a", "refresh_token": "r", "expires_in": 3600, "scope": "x y"}), now=NOW)
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_at) == ("a", "r", NOW + 3600)
    assert tokens.scopes == ("x", "y")


def test_envelope_with_success_condition_aliases_and_user_id():
    rules = {"root": "body", "success_when": "status == `0`", "error_message": "error",
             "fields": {"access_token": "token", "user_id": "userid", "expires_in": "ttl"}}
    tokens = read_token_response(spec(rules), response(
        {"status": 0, "body": {"token": "a", "userid": 363, "ttl": "60", "scope": "u.a,u.b"}}), now=NOW)
    assert tokens.access_token == "a" and tokens.user_id == "363" and tokens.expires_at == NOW + 60
    assert tokens.scopes == ("u.a", "u.b") and tokens.refresh_token is None
    with pytest.raises(OAuthError) as caught:
        read_token_response(spec(rules), response({"status": 503, "body": {}, "error": "bad params"}), now=NOW)
    assert caught.value.code == "token_request_failed" and "bad params" in caught.value.message
    with pytest.raises(InvalidGrant):
        read_token_response(spec(rules), response(
            {"status": 401, "body": {}, "error": "invalid_grant: refresh token revoked"}), now=NOW)


@pytest.mark.parametrize("value, expected", [
    (1_900_000_000, 1_900_000_000), (1_900_000_000_000, 1_900_000_000),
    ("2030-03-17T17:46:40Z", 1_900_000_000), ("2030-03-17T17:46:40+00:00", 1_900_000_000)])
def test_absolute_expiry(value, expected):
    rules = {"fields": {"expires_at": "expires_at"}}
    tokens = read_token_response(spec(rules), response({"access_token": "a", "expires_at": value}), now=NOW)
    assert tokens.expires_at == expected


def test_missing_lifetime_uses_the_spec_default_then_the_fallback():
    tokens = read_token_response(spec({"default_expires_in": 120}), response({"access_token": "a"}), now=NOW)
    assert tokens.expires_at == NOW + 120
    tokens = read_token_response(spec(), response({"access_token": "a", "expires_in": None}), now=NOW)
    assert tokens.expires_at == NOW + FALLBACK_EXPIRES_IN_S


def test_error_statuses():
    with pytest.raises(InvalidGrant):
        read_token_response(spec(), response({"error": "invalid_grant"}, 400), now=NOW)
    with pytest.raises(OAuthError) as caught:
        read_token_response(spec(), response({"error": "invalid_client"}, 401), now=NOW)
    assert caught.value.code == "token_request_failed"
    with pytest.raises(RateLimited) as limited:
        read_token_response(spec(), response({}, 429, {"Retry-After": "7"}), now=NOW)
    assert limited.value.retry_after == 7
    with pytest.raises(VendorApiError):
        read_token_response(spec(), response({}, 502), now=NOW)


@pytest.mark.parametrize("body", ["text", [1], {"access_token": ""}, {"access_token": 5}, {"nothing": 1}])
def test_unusable_answers_are_vendor_errors(body):
    with pytest.raises(VendorApiError):
        read_token_response(spec(), response(body), now=NOW)
    with pytest.raises(VendorApiError):
        read_token_response(spec(), httpx2.Response(200, content=b"<html>"), now=NOW)
