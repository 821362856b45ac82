"""Outbox retention in `Store.prune()`, on both stores: finished deliveries and their events go
after the retention, an event with a delivery still open stays whatever its age, and a sync's
window counts go once the sync has not been heard of for as long (a running sync keeps them)."""

from __future__ import annotations

import pytest

from engine.store import Store
from engine.store.outbox_records import DeliveryPolicy

pytestmark = pytest.mark.anyio

DAY = 86400.0
GIVE_UP = DeliveryPolicy(retry_at=None, pause_after_failures=1000, pause_after_s=1e9)


async def window_rows(store: Store) -> list[tuple[str, str]]:
    rows = await store._ex.read_all("SELECT sync_id, window_key FROM outbox_sync_windows ORDER BY sync_id, window_key")
    return [tuple(row) for row in rows]


async def test_prune_drops_finished_outbox_rows_past_the_retention(store: Store, clock) -> None:
    store.configure_outbox(retention_s=7 * DAY)
    endpoint = await store.create_endpoint("https://hooks.example.com/in", secret="whsec_" + "A" * 32,
                                           event_types=["connection.created"])
    delivered = await store.add_outbox_event("connection.created", {"user_id": "u1"}, user_id="u1")
    failed = await store.add_outbox_event("connection.created", {"user_id": "u2"}, user_id="u2")
    waiting = await store.add_outbox_event("connection.created", {"user_id": "u3"}, user_id="u3")
    assert await store.dispatch_outbox() == 3
    claimed = {c.event.id: c for c in await store.claim_deliveries("w1", limit=10)}
    assert set(claimed) == {delivered, failed, waiting}
    assert await store.delivery_succeeded(endpoint.id, delivered, "w1", status=204)
    assert await store.delivery_failed(endpoint.id, failed, "w1", status=500, error="HTTP 500",
                                       policy=GIVE_UP) == "failed"
    retry = DeliveryPolicy(retry_at=clock() + 30 * DAY, pause_after_failures=1000, pause_after_s=1e9)
    assert await store.delivery_failed(endpoint.id, waiting, "w1", status=503, error="HTTP 503",
                                       policy=retry) == "pending"

    await store.create_sync("sync_old", "acme", "u1", windows_total=2, detail={"resources": {"hr": 2}})
    await store.create_sync("sync_new", "acme", "u1", windows_total=2, detail={"resources": {"hr": 2}})
    for sync_id in ("sync_old", "sync_new"):
        await store.note_sync_window(sync_id, vendor="acme", user_id="u1", resource="hr", window_key="w1")
    # delivery.failed (about this endpoint, not sent to it) and two sync.progress (not subscribed)
    assert await store.dispatch_outbox() == 3

    clock.advance(6 * DAY)
    await store.update_sync("sync_new", add_windows_done=1)  # still being worked on
    counts = await store.prune()
    assert (counts["outbound_deliveries"], counts["outbox_events"], counts["outbox_sync_windows"]) == (0, 0, 0)

    clock.advance(2 * DAY)  # 8 days on: past the 7-day retention for all but the newer sync
    counts = await store.prune()
    # deliveries: the delivered and the failed one; events: those two and the three without a delivery
    assert (counts["outbound_deliveries"], counts["outbox_events"], counts["outbox_sync_windows"]) == (2, 5, 1)
    assert [d.event_id for d in await store.list_deliveries(endpoint_id=endpoint.id)] == [waiting]
    assert await store.get_outbox_event(delivered) is None and await store.get_outbox_event(failed) is None
    assert await store.get_outbox_event(waiting) is not None  # its delivery is still open
    assert await window_rows(store) == [("sync_new", "w1")]
    # the newer sync still counts its windows once each: the next completes its resource
    assert await store.note_sync_window("sync_new", vendor="acme", user_id="u1", resource="hr",
                                        window_key="w1") == []
    assert await store.note_sync_window("sync_new", vendor="acme", user_id="u1", resource="hr",
                                        window_key="w2") == ["sync.progress", "sync.completed"]
    assert (await store.prune())["outbox_events"] == 0
