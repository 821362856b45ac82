"""App-level state: vendor-issued secrets (encrypted at rest), app subscriptions, and history
windows a vendor accepted for later delivery. Runs on every adapter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.store import Store, open_store

from .conftest import store_url
from .helpers import TEST_SECRET, ManualClock, file_bytes

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, tzinfo=UTC)


async def test_app_secrets_round_trip_per_vendor_and_replace(store: Store) -> None:
    assert await store.get_app_secrets("acme") == {}
    await store.put_app_secret("acme", "signing_key", "first-value")
    await store.put_app_secret("acme", "other", "x")
    await store.put_app_secret("zeta", "signing_key", "zeta-value")
    await store.put_app_secret("acme", "signing_key", "second-value")
    assert await store.get_app_secrets("acme") == {"other": "x", "signing_key": "second-value"}
    assert await store.get_app_secrets("zeta") == {"signing_key": "zeta-value"}


async def test_app_secret_is_not_stored_in_plaintext(tmp_path: Path, clock: ManualClock) -> None:
    store = await open_store(store_url("sqlite", tmp_path), tmp_path, secret_keys=[TEST_SECRET], clock=clock)
    try:
        await store.put_app_secret("acme", "signing_key", "plaintext-marker-9f8e7d")
    finally:
        await store.close()
    assert b"plaintext-marker-9f8e7d" not in file_bytes(tmp_path)
    reopened = await open_store(store_url("sqlite", tmp_path), tmp_path, secret_keys=[TEST_SECRET], clock=clock)
    try:
        assert await reopened.get_app_secrets("acme") == {"signing_key": "plaintext-marker-9f8e7d"}
    finally:
        await reopened.close()


async def test_app_subscriptions_upsert_list_by_expiry_and_delete(store: Store, clock: ManualClock) -> None:
    await store.put_app_subscription("acme", "b", expires_at=clock.now + 500, detail={"kind": "x"})
    await store.put_app_subscription("acme", "a", expires_at=clock.now + 100)
    await store.put_app_subscription("acme", "c", expires_at=None)
    await store.put_app_subscription("zeta", "z", expires_at=clock.now + 1)
    listed = await store.list_app_subscriptions("acme")
    assert [s.subscription_id for s in listed] == ["a", "b", "c"]
    assert listed[1].detail == {"kind": "x"}
    renewed = await store.put_app_subscription("acme", "a", expires_at=clock.now + 900)
    assert renewed.expires_at == pytest.approx(clock.now + 900)
    assert [s.subscription_id for s in await store.list_app_subscriptions("acme")] == ["b", "a", "c"]
    assert len(await store.list_app_subscriptions()) == 4
    assert await store.delete_app_subscription("acme", "b") is True
    assert await store.delete_app_subscription("acme", "b") is False
    assert [s.subscription_id for s in await store.list_app_subscriptions("acme")] == ["a", "c"]


async def test_awaited_windows_complete_once_on_overlap(store: Store, clock: ManualClock) -> None:
    first = await store.add_awaited_window("acme", "u1", "daily", start=T0, end=T0 + timedelta(days=30),
                                           sync_id="s1")
    await store.add_awaited_window("acme", "u1", "daily", start=T0 + timedelta(days=30),
                                   end=T0 + timedelta(days=60), sync_id="s1")
    await store.add_awaited_window("acme", "u1", "sleep", start=T0, end=T0 + timedelta(days=30), sync_id="s1")
    await store.add_awaited_window("acme", "u2", "daily", start=T0, end=T0 + timedelta(days=30), sync_id="s2")
    assert first.start == T0 and first.sync_id == "s1"
    assert len(await store.list_awaited_windows(sync_id="s1")) == 3
    # Data from day 3 arrives: only u1's first daily window is completed, and only once.
    day3 = T0 + timedelta(days=3)
    results = await asyncio.gather(*[
        store.complete_awaited_windows("acme", "u1", "daily", start=day3, end=day3 + timedelta(hours=1))
        for _ in range(3)
    ])
    completed = [w for batch in results for w in batch]
    assert [w.id for w in completed] == [first.id]
    assert len(await store.list_awaited_windows(sync_id="s1")) == 2
    assert len(await store.list_awaited_windows(vendor="acme", user_id="u2")) == 1
    # Nothing outside any window completes anything.
    assert await store.complete_awaited_windows("acme", "u1", "daily", start=T0 - timedelta(days=9),
                                                end=T0 - timedelta(days=8)) == []


async def test_awaited_windows_expire_and_go_with_the_user(store: Store, clock: ManualClock) -> None:
    await store.add_awaited_window("acme", "u1", "daily", start=T0, end=T0 + timedelta(days=1))
    clock.advance(100)
    await store.add_awaited_window("acme", "u2", "daily", start=T0, end=T0 + timedelta(days=1))
    expired = await store.expire_awaited_windows(older_than_s=50)
    assert [w.user_id for w in expired] == ["u1"]
    counts = await store.delete_user_data("u2")
    assert counts["awaited_windows"] == 1
    assert await store.list_awaited_windows() == []
