"""`token_response.invalid_grant_when`: an envelope API that refuses a refresh with HTTP 200 marks the
connection `reauth_required` by the condition alone, whatever its error text says."""

from __future__ import annotations

import httpx2
import pytest

from engine.auth.token_endpoint import InvalidGrant, read_token_response
from engine.errors import OAuthError, TokenError
from engine.spec.compile import compile_spec
from tests.vendors.harness import connect_user, engine_app, engine_env

NOW = 1_800_000_000.0

ENVELOPE = {"root": "body", "success_when": "status == `0`", "error_message": "error",
            "invalid_grant_when": "status == `401`"}


def spec(token_response: dict):
    raw = {
        "spec_version": 1, "id": "acme", "name": "Acme", "api": {"base_url": "https://api.acme.test"},
        "auth": {"type": "oauth2", "authorize_url": "https://acme.test/a", "token_url": "https://acme.test/t",
                 "client_id": "${ACME_ID}", "client_secret": "${ACME_SECRET}",
                 "token_response": token_response},
    }
    return compile_spec(raw, env={"ACME_ID": "id", "ACME_SECRET": "secret"})


def envelope(status: int, error: str = "no such token") -> httpx2.Response:
    return httpx2.Response(200, json={"status": status, "body": {}, "error": error})


def test_condition_decides_without_the_message_text():
    with pytest.raises(InvalidGrant) as caught:
        read_token_response(spec(ENVELOPE), envelope(401), now=NOW)
    assert "no such token" in caught.value.message
    with pytest.raises(OAuthError) as other:
        read_token_response(spec(ENVELOPE), envelope(503), now=NOW)
    assert not isinstance(other.value, InvalidGrant) and other.value.code == "token_request_failed"
    ok = read_token_response(spec(ENVELOPE), httpx2.Response(
        200, json={"status": 0, "body": {"access_token": "a"}}), now=NOW)
    assert ok.access_token == "a"


def test_condition_applies_to_http_errors_too():
    rules = {"invalid_grant_when": "error.code == 'TOKEN_REVOKED'"}
    with pytest.raises(InvalidGrant):
        read_token_response(spec(rules), httpx2.Response(
            400, json={"error": {"code": "TOKEN_REVOKED"}}), now=NOW)
    with pytest.raises(OAuthError) as other:
        read_token_response(spec(rules), httpx2.Response(400, json={"error": {"code": "OTHER"}}), now=NOW)
    assert not isinstance(other.value, InvalidGrant)


@pytest.mark.anyio
async def test_withings_refused_refresh_marks_reauth_required(sim, clock, tmp_path):
    env = engine_env(sim, tmp_path, "withings")
    copy = tmp_path / "vendors" / "withings.yaml"
    text = copy.read_text()
    assert 'invalid_grant_when: "status == `401`"' in text
    # Without the error text the old heuristic had nothing to go on; the condition alone decides.
    copy.write_text("\n".join(line for line in text.splitlines()
                              if not line.strip().startswith("error_message:")) + "\n")
    async with engine_app(sim, env, clock) as (engine, client):
        await connect_user(client, sim, "withings", "u1")
        before = await engine.store.get_connection("withings", "u1")
        sim.state.revoke_user("withings", sim.state.default_user("withings").key)
        clock.advance(before.token_expires_at - clock() + 1)
        with pytest.raises(TokenError) as caught:
            await engine.oauth.fresh_connection("withings", "u1")
        assert caught.value.code == "reauth_required"
        stored = await engine.store.get_connection("withings", "u1")
        assert stored.status == "reauth_required" and "refresh rejected" in stored.last_error
