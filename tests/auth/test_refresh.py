"""Token refresh against the simulator: proactive, single-flight, rotation, invalid_grant."""

from __future__ import annotations

import asyncio

import pytest

from engine.errors import TokenError
from tests.auth.harness import AUTH, connect, engine_client, engine_env, running_sim

pytestmark = pytest.mark.anyio


async def connected(engine, client, vendor="whoop", user="u1"):
    response = await connect(client, vendor, user)
    assert response.status_code == 200, response.text
    return await engine.store.get_connection(vendor, user)


async def test_concurrent_callers_share_one_refresh(engine_and_client, sim, clock):
    engine, client = engine_and_client
    before = await connected(engine, client)
    clock.advance(before.token_expires_at - clock() + 5)  # expired
    calls = sim.state.token_calls("whoop")
    results = await asyncio.gather(*(engine.oauth.fresh_connection("whoop", "u1") for _ in range(50)))
    assert sim.state.token_calls("whoop") == calls + 1
    assert {r.access_token for r in results} == {results[0].access_token}
    assert results[0].access_token != before.access_token
    assert sim.state.refresh_token_reuses("whoop") == 0


async def test_forced_refresh_after_a_rejected_token_happens_once(engine_and_client, sim):
    engine, client = engine_and_client
    before = await connected(engine, client)
    sim.state.expire_access_token(before.access_token)  # the vendor says 401 earlier than expected
    calls = sim.state.token_calls("whoop")
    results = await asyncio.gather(*(
        engine.oauth.fresh_connection("whoop", "u1", force=True, rejected_token=before.access_token)
        for _ in range(10)))
    assert sim.state.token_calls("whoop") == calls + 1
    assert {r.access_token for r in results} == {results[0].access_token} != {before.access_token}
    assert sim.state.valid_access("whoop", results[0].access_token) is not None


async def test_rotated_refresh_token_is_stored_and_used_next_time(engine_and_client, sim, clock):
    engine, client = engine_and_client
    first = await connected(engine, client)
    for _ in range(3):
        current = await engine.store.get_connection("whoop", "u1")
        clock.advance(current.token_expires_at - clock() + 1)
        refreshed = await engine.oauth.fresh_connection("whoop", "u1")
        assert refreshed.refresh_token != current.refresh_token
    assert refreshed.token_version == first.token_version + 3
    assert sim.state.refresh_token_reuses("whoop") == 0
    assert sim.state.counters["whoop.token_errors.invalid_grant"] == 0


async def test_response_without_refresh_token_keeps_the_old_one(tmp_path, clock):
    with running_sim(clock, whoop={"rotation": "none"}) as sim:
        async with engine_client(engine_env(sim, tmp_path), clock) as (engine, client):
            first = await connected(engine, client)
            assert first.refresh_token
            for _ in range(2):
                clock.advance(first.token_expires_at - clock() + 1)
                refreshed = await engine.oauth.fresh_connection("whoop", "u1")
                assert refreshed.refresh_token == first.refresh_token
                assert refreshed.access_token != first.access_token
                first = refreshed


async def test_invalid_grant_marks_reauth_required(engine_and_client, sim, clock):
    engine, client = engine_and_client
    before = await connected(engine, client)
    sim.state.revoke_user("whoop", sim.state.default_user("whoop").key)
    clock.advance(before.token_expires_at - clock() + 1)
    with pytest.raises(TokenError) as caught:
        await engine.oauth.fresh_connection("whoop", "u1")
    assert caught.value.code == "reauth_required" and caught.value.status == 409
    stored = await engine.store.get_connection("whoop", "u1")
    assert stored.status == "reauth_required" and "refresh rejected" in stored.last_error
    listed = (await client.get("/v1/users/u1/connections", headers=AUTH)).json()["connections"]
    assert listed[0]["status"] == "reauth_required"
    with pytest.raises(TokenError):  # no further token calls for a dead connection
        calls = sim.state.token_calls("whoop")
        await engine.oauth.fresh_connection("whoop", "u1")
    assert sim.state.token_calls("whoop") == calls
    # Connecting again heals it.
    assert (await connect(client, "whoop", "u1")).status_code == 200
    assert (await engine.store.get_connection("whoop", "u1")).status == "active"


async def test_invalid_grant_does_not_mark_when_tokens_changed_meanwhile(engine_and_client, sim, clock):
    engine, client = engine_and_client
    before = await connected(engine, client)
    sim.state.revoke_user("whoop", sim.state.default_user("whoop").key)
    sim.state.set_delay("whoop", 0.5, "/oauth/oauth2/token")
    clock.advance(before.token_expires_at - clock() + 1)
    token_requests = len(sim.state.calls_to("whoop", "/oauth/oauth2/token"))
    refreshing = asyncio.create_task(engine.oauth.fresh_connection("whoop", "u1"))
    # The doomed refresh has reached the vendor (which answers after its delay); the user connects
    # again meanwhile.
    async with asyncio.timeout(5):
        while len(sim.state.calls_to("whoop", "/oauth/oauth2/token")) == token_requests:
            await asyncio.sleep(0.005)
    assert not refreshing.done()
    reconnected = await engine.store.upsert_connection(
        "whoop", "u1", vendor_user_id=before.vendor_user_id, scopes=before.scopes,
        access_token="new-access", refresh_token="new-refresh", token_expires_at=clock() + 3600)
    result = await refreshing
    assert result.access_token == "new-access"
    stored = await engine.store.get_connection("whoop", "u1")
    assert stored.status == "active" and stored.token_version == reconnected.token_version


async def test_fresh_token_is_not_refreshed(engine_and_client, sim):
    engine, client = engine_and_client
    before = await connected(engine, client)
    calls = sim.state.token_calls("whoop")
    again = await engine.oauth.fresh_connection("whoop", "u1")
    assert again.access_token == before.access_token and sim.state.token_calls("whoop") == calls


async def test_missing_connection_is_a_clear_error(engine_and_client):
    engine, _ = engine_and_client
    from engine.errors import ConnectionNotFound

    with pytest.raises(ConnectionNotFound):
        await engine.oauth.fresh_connection("whoop", "nobody")
