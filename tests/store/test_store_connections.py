"""Contract: connections with encrypted tokens, OAuth states, cursors."""

from __future__ import annotations

import pytest

from engine.store import ConnectionConflict, InboxEvent, OAuthState, Store

from .helpers import ManualClock

pytestmark = pytest.mark.anyio


async def connect(store: Store, user: str = "u1", vendor_user: str | None = "vu1", **kw):
    fields = {
        "vendor_user_id": vendor_user,
        "scopes": ["offline", "read:sleep"],
        "access_token": f"access-{user}",
        "refresh_token": f"refresh-{user}",
        "token_expires_at": 1000.0,
    }
    fields.update(kw)
    return await store.upsert_connection("acme", user, **fields)


async def test_upsert_then_read_back_by_user_and_by_vendor_user(store: Store) -> None:
    created = await connect(store, extra={"identity": {"id": "vu1"}})
    assert created.status == "active"
    assert created.token_version == 1
    assert created.scopes == ("offline", "read:sleep")
    assert created.access_token == "access-u1" and created.refresh_token == "refresh-u1"
    assert created.extra == {"identity": {"id": "vu1"}}
    assert await store.get_connection("acme", "u1") == created
    assert await store.get_connection_by_vendor_user("acme", "vu1") == created
    assert await store.get_connection("acme", "nobody") is None
    assert await store.get_connection_by_vendor_user("acme", "nobody") is None


async def test_repr_never_shows_tokens(store: Store) -> None:
    connection = await connect(store)
    assert "access-u1" not in repr(connection) and "refresh-u1" not in repr(connection)


async def test_reconnect_replaces_tokens_bumps_version_and_keeps_refresh_when_absent(
    store: Store,
) -> None:
    await connect(store)
    await store.set_connection_status("acme", "u1", "reauth_required", last_error="invalid_grant")
    again = await connect(store, access_token="access-2", refresh_token=None)
    assert again.status == "active" and again.last_error is None
    assert again.token_version == 2
    assert again.access_token == "access-2"
    assert again.refresh_token == "refresh-u1"


async def test_list_connections_filters(store: Store) -> None:
    await connect(store, "u1", "vu1")
    await connect(store, "u2", "vu2")
    await store.upsert_connection(
        "other",
        "u1",
        vendor_user_id="x",
        scopes=[],
        access_token="a",
        refresh_token=None,
        token_expires_at=None,
    )
    await store.set_connection_status("acme", "u2", "revoked")
    assert {(c.vendor, c.user_id) for c in await store.list_connections()} == {
        ("acme", "u1"),
        ("acme", "u2"),
        ("other", "u1"),
    }
    assert [c.vendor for c in await store.list_connections(user_id="u1")] == ["acme", "other"]
    assert [c.user_id for c in await store.list_connections(vendor="acme", status="revoked")] == [
        "u2"
    ]


async def test_update_tokens_is_compare_and_set(store: Store) -> None:
    first = await connect(store)
    updated = await store.update_tokens(
        "acme",
        "u1",
        expected_version=first.token_version,
        access_token="access-new",
        refresh_token="refresh-new",
        token_expires_at=2000.0,
    )
    assert updated is not None
    assert updated.token_version == first.token_version + 1
    assert (updated.access_token, updated.refresh_token) == ("access-new", "refresh-new")
    assert updated.token_expires_at == 2000.0
    stale = await store.update_tokens(
        "acme",
        "u1",
        expected_version=first.token_version,
        access_token="loser",
        refresh_token="loser",
        token_expires_at=3000.0,
    )
    assert stale is None
    current = await store.get_connection("acme", "u1")
    assert current is not None and current.access_token == "access-new"


async def test_update_tokens_without_refresh_token_keeps_the_stored_one(store: Store) -> None:
    first = await connect(store)
    updated = await store.update_tokens(
        "acme",
        "u1",
        expected_version=first.token_version,
        access_token="access-new",
        refresh_token=None,
        token_expires_at=None,
        scopes=["offline"],
    )
    assert updated is not None
    assert updated.refresh_token == "refresh-u1"
    assert updated.scopes == ("offline",)


async def test_status_change_guarded_by_token_version(store: Store) -> None:
    first = await connect(store)
    await store.update_tokens(
        "acme",
        "u1",
        expected_version=first.token_version,
        access_token="a2",
        refresh_token="r2",
        token_expires_at=None,
    )
    # A refresher that saw the old version must not mark the fresh tokens as dead.
    assert not await store.set_connection_status(
        "acme", "u1", "reauth_required", expected_version=first.token_version
    )
    assert (await store.get_connection("acme", "u1")).status == "active"
    assert await store.set_connection_status(
        "acme",
        "u1",
        "reauth_required",
        last_error="invalid_grant",
        expected_version=first.token_version + 1,
    )
    current = await store.get_connection("acme", "u1")
    assert (current.status, current.last_error) == ("reauth_required", "invalid_grant")
    with pytest.raises(ValueError):
        await store.set_connection_status("acme", "u1", "sleeping")


async def test_vendor_account_cannot_be_linked_to_two_active_users(store: Store) -> None:
    await connect(store, "u1", "vu1")
    with pytest.raises(ConnectionConflict) as raised:
        await connect(store, "u2", "vu1")
    assert raised.value.other_user_id == "u1"
    assert await store.get_connection("acme", "u2") is None
    # Once the first link is revoked, the account may move; the old row lets go of it.
    await store.purge_tokens("acme", "u1")
    moved = await connect(store, "u2", "vu1")
    assert (await store.get_connection_by_vendor_user("acme", "vu1")) == moved
    assert (await store.get_connection("acme", "u1")).vendor_user_id is None


async def test_recorded_events_stamp_last_webhook_at_in_the_same_write(store: Store, clock) -> None:
    await connect(store, "u1", "vu1")
    await connect(store, "u2", "vu2")
    event = InboxEvent(vendor="acme", event_key="e1", event_type="sleep.updated",
                       vendor_user_id="vu1", user_id="u1", object_id="s1", payload={})
    (result,) = await store.record_events([(event, None)], webhook_from=[("acme", "u1"), ("acme", "u1")])
    assert result.created
    assert (await store.get_connection("acme", "u1")).last_webhook_at == clock.now
    assert (await store.get_connection("acme", "u2")).last_webhook_at is None
    # A redelivery (no new inbox row) still says the vendor is talking to us.
    later = clock.advance(60)
    (again,) = await store.record_events([(event, None)], webhook_from=[("acme", "u1"), ("acme", "nobody")])
    assert not again.created
    assert (await store.get_connection("acme", "u1")).last_webhook_at == later


async def test_activity_fields_update_only_what_is_given(store: Store) -> None:
    await connect(store)
    await store.record_connection_activity("acme", "u1", last_webhook_at=10.0, last_error="boom")
    await store.record_connection_activity("acme", "u1", last_pull_at=20.0)
    current = await store.get_connection("acme", "u1")
    assert (current.last_webhook_at, current.last_pull_at, current.last_error) == (
        10.0,
        20.0,
        "boom",
    )
    await store.record_connection_activity("acme", "u1", clear_error=True)
    assert (await store.get_connection("acme", "u1")).last_error is None
    assert not await store.record_connection_activity("acme", "ghost", last_pull_at=1.0)


async def test_purge_tokens_and_delete(store: Store) -> None:
    first = await connect(store)
    assert await store.purge_tokens("acme", "u1")
    purged = await store.get_connection("acme", "u1")
    assert purged.access_token is None and purged.refresh_token is None
    assert purged.status == "revoked" and purged.token_version == first.token_version + 1
    assert await store.delete_connection("acme", "u1")
    assert not await store.delete_connection("acme", "u1")
    assert await store.get_connection("acme", "u1") is None


async def test_oauth_state_is_single_use_and_keeps_its_verifier(
    store: Store, clock: ManualClock
) -> None:
    state = OAuthState(
        state_id="s-1",
        vendor="acme",
        user_id="u1",
        expires_at=clock.now + 600,
        pkce_verifier="v" * 64,
        return_to="https://app.example/done",
        extra={"k": 1},
    )
    await store.put_oauth_state(state)
    consumed = await store.consume_oauth_state("s-1")
    assert consumed is not None
    assert consumed.pkce_verifier == "v" * 64
    assert (consumed.vendor, consumed.user_id, consumed.return_to) == (
        "acme",
        "u1",
        "https://app.example/done",
    )
    assert consumed.extra == {"k": 1}
    assert await store.consume_oauth_state("s-1") is None
    assert await store.consume_oauth_state("never-issued") is None


async def test_expired_oauth_state_is_refused_and_gone(store: Store, clock: ManualClock) -> None:
    await store.put_oauth_state(
        OAuthState(state_id="s-2", vendor="acme", user_id="u1", expires_at=clock.now + 600)
    )
    clock.advance(601)
    assert await store.consume_oauth_state("s-2") is None
    clock.advance(-601)
    assert await store.consume_oauth_state("s-2") is None


async def test_concurrent_consumers_of_one_state_get_it_once(
    store: Store, clock: ManualClock
) -> None:
    import asyncio

    await store.put_oauth_state(
        OAuthState(state_id="s-3", vendor="acme", user_id="u1", expires_at=clock.now + 60)
    )
    results = await asyncio.gather(*(store.consume_oauth_state("s-3") for _ in range(20)))
    assert sum(result is not None for result in results) == 1


async def test_cursor_get_set(store: Store) -> None:
    assert await store.get_cursor("acme", "u1", "sleep") is None
    await store.set_cursor("acme", "u1", "sleep", '{"until": "2026-01-01"}')
    await store.set_cursor("acme", "u1", "sleep", '{"until": "2026-01-02"}')
    await store.set_cursor("acme", "u1", "workout", "w")
    assert await store.get_cursor("acme", "u1", "sleep") == '{"until": "2026-01-02"}'
    assert await store.get_cursor("acme", "u1", "workout") == "w"
    assert await store.get_cursor("acme", "u2", "sleep") is None
