"""The OAuth `state`: single use, expiring, signed, bound to its vendor; and no open redirect."""

from __future__ import annotations

import pytest

from tests.auth.harness import AUTH, consent, query_of, start

pytestmark = pytest.mark.anyio


def with_state(callback: str, state: str) -> str:
    query = query_of(callback)
    return f"/v1/oauth/whoop/callback?code={query['code']}&state={state}"


async def test_replayed_state_is_rejected(engine_and_client):
    _, client = engine_and_client
    callback = await consent(await start(client, "whoop", "u1"))
    assert (await client.get(callback)).status_code == 200
    replay = await client.get(callback)
    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "state_used"
    assert replay.json()["error"]["vendor"] == "whoop"


async def test_replay_through_the_post_callback_is_rejected_too(engine_and_client):
    _, client = engine_and_client
    callback = await consent(await start(client, "whoop", "u1"))
    query = query_of(callback)
    first = await client.post("/v1/oauth/whoop/callback", json={"code": query["code"], "state": query["state"]})
    assert first.status_code == 200
    second = await client.post("/v1/oauth/whoop/callback", json={"code": query["code"], "state": query["state"]})
    assert second.status_code == 400 and second.json()["error"]["code"] == "state_used"


async def test_expired_state_is_rejected(engine_and_client, clock, sim):
    engine, client = engine_and_client
    callback = await consent(await start(client, "whoop", "u1"))
    clock.advance(601)
    response = await client.get(callback)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "state_expired"
    assert await engine.store.get_connection("whoop", "u1") is None
    assert sim.state.token_calls("whoop") == 0


@pytest.mark.parametrize("part", [0, 1, 2])
async def test_tampered_state_is_rejected_before_the_store(engine_and_client, sim, part):
    _, client = engine_and_client
    callback = await consent(await start(client, "whoop", "u1"))
    state = query_of(callback)["state"]
    pieces = state.split(".")
    original = pieces[part]
    pieces[part] = ("9" if original[-1] != "9" else "8") if part == 1 else original[:-1] + (
        "A" if original[-1] != "A" else "B")
    response = await client.get(with_state(callback, ".".join(pieces)))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_state"
    assert sim.state.token_calls("whoop") == 0
    # The genuine state was not consumed by the forged attempt.
    assert (await client.get(callback)).status_code == 200


async def test_state_of_another_vendor_is_rejected(engine_and_client):
    _, client = engine_and_client
    callback = await consent(await start(client, "whoop", "u1"))
    query = query_of(callback)
    response = await client.get(f"/v1/oauth/oura/callback?code={query['code']}&state={query['state']}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_state"
    assert response.json()["error"]["vendor"] == "oura"
    assert (await client.get(callback)).status_code == 200


@pytest.mark.parametrize("state", ["", "abc", "a.b.c", "a.123.b.c", "x" * 5000, "é.1.ü", "..", "a.-5.b"])
async def test_malformed_states_are_rejected(engine_and_client, state):
    _, client = engine_and_client
    response = await client.get("/v1/oauth/whoop/callback", params={"code": "c", "state": state})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_state"


async def test_missing_code_is_rejected_and_state_is_spent(engine_and_client):
    _, client = engine_and_client
    callback = await consent(await start(client, "whoop", "u1"))
    state = query_of(callback)["state"]
    response = await client.get(f"/v1/oauth/whoop/callback?state={state}")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_code"


@pytest.mark.parametrize("return_to", [
    "https://evil.example.com/",
    "https://app.example.com.evil.com/",
    "http://app.example.com/",
    "https://app.example.com:8443/",
    "//app.example.com/",
    "javascript:alert(1)",
    "/relative/path",
    "https://user@app.example.com/",
    "https://app.example.com\\@evil.com/",
    "https://app.example.com/\n",
])
async def test_return_to_outside_the_allowlist_is_refused(engine_and_client, return_to):
    _, client = engine_and_client
    response = await client.post("/v1/users/u1/connections/whoop", json={"return_to": return_to}, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "return_to_not_allowed"


async def test_allowed_return_to_variants(engine_and_client):
    _, client = engine_and_client
    for return_to in ("https://app.example.com/cb", "https://APP.example.com:443/x", "http://localhost:3000/x"):
        response = await client.post("/v1/users/u1/connections/whoop", json={"return_to": return_to},
                                     headers=AUTH)
        assert response.status_code == 201, return_to


async def test_return_to_removed_from_allowlist_before_callback_is_not_followed(engine_and_client):
    engine, client = engine_and_client
    callback = await consent(await start(client, "whoop", "u1", {"return_to": "https://app.example.com/x"}))
    engine.oauth.return_to_allowlist = frozenset()
    response = await client.get(callback)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "return_to_not_allowed"
    assert "location" not in response.headers
