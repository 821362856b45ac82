"""The outbox contract, on both stores: events written by the changes themselves, dispatch with
feed positions, leased deliveries in order per (endpoint, user), retries, give-up and pause,
replay, the feed, connection and sync events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.store import SampleRecord, Store
from engine.store.outbox_records import DeliveryPolicy

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
RETRY = DeliveryPolicy(retry_at=None, pause_after_failures=1000, pause_after_s=1e9)


def sample(user: str, dedup: str, *, minutes: int = 0, version: int = 1, kind: str = "heart_rate",
           bpm: float = 60.0) -> SampleRecord:
    at = T0 + timedelta(minutes=minutes)
    return SampleRecord(
        user_id=user, source="acme", sample_type=kind, dedup_id=dedup, timestamp_utc=at,
        payload={"user_id": user, "source": "acme", "sample_type": kind, "bpm": bpm,
                 "timestamp_utc": at.isoformat()},
        vendor_updated_at=T0 + timedelta(seconds=version), resource="hr", vendor_record_id=dedup)


async def events(store: Store, **filters) -> list:
    await store.dispatch_outbox()
    return await store.list_changes(limit=1000, **filters)


async def test_a_sample_write_reports_created_updated_and_deleted(store: Store) -> None:
    await store.upsert_samples([sample("u1", "a", bpm=60), sample("u1", "b", minutes=5, bpm=61),
                                sample("u1", "c", kind="steps")])
    first = await events(store)
    assert [(e.event_type, e.payload["sample_type"], e.payload["created"]) for e in first] == [
        ("samples.changed", "heart_rate", 2), ("samples.changed", "steps", 1)]
    heart = first[0].payload
    assert heart["updated"] == 0 and heart["deleted"] == 0 and heart["samples_omitted"] == 0
    assert [s["change"] for s in heart["samples"]] == ["created", "created"]
    assert [s["sample"]["bpm"] for s in heart["samples"]] == [60, 61]
    # every changed sample lies in [since, until): 06:00 and 06:05, until one microsecond after
    assert heart["range"] == {"since": "2026-03-01T06:00:00Z", "until": "2026-03-01T06:05:00.000001Z"}
    assert first[0].origin == "live" and first[0].user_id == "u1"
    assert [e.seq for e in first] == [first[0].seq, first[0].seq + 1]

    # a newer version updates; an older one changes nothing and reports nothing
    await store.upsert_samples([sample("u1", "a", version=2, bpm=70)], origin="backfill")
    await store.upsert_samples([sample("u1", "b", minutes=5, version=0, bpm=1)])
    second = await store.list_changes(after_seq=first[-1].seq, limit=10)
    assert second == []
    second = await events(store, after_seq=first[-1].seq)
    assert len(second) == 1
    assert (second[0].origin, second[0].payload["updated"], second[0].payload["created"]) == ("backfill", 1, 0)
    assert second[0].payload["samples"][0]["sample"]["bpm"] == 70

    marked = await store.tombstone_samples("u1", "acme", vendor_record_id="b", resource="hr")
    assert marked == 1
    (gone,) = await events(store, after_seq=second[-1].seq)
    assert (gone.payload["deleted"], gone.payload["samples"][0]["sample"]["deleted"]) == (1, True)


async def test_inline_samples_are_capped_and_the_rest_is_a_range(store: Store) -> None:
    store.configure_outbox(inline_samples=2)
    await store.upsert_samples([sample("u1", str(i), minutes=i) for i in range(5)])
    (event,) = await events(store)
    assert (len(event.payload["samples"]), event.payload["samples_omitted"], event.payload["created"]) == (2, 3, 5)
    assert event.payload["range"]["until"] == "2026-03-01T06:04:00.000001Z"


async def test_no_events_when_the_outbox_is_off(store: Store) -> None:
    store.configure_outbox(enabled=False)
    written = await store.upsert_samples([sample("u1", "a")])
    assert written.written == 1
    await store.tombstone_samples("u1", "acme", vendor_record_id="a")
    await store.upsert_connection("acme", "u1", vendor_user_id="v1", scopes=[], access_token="t",
                                  refresh_token=None, token_expires_at=None)
    assert await events(store) == []


async def test_connection_events(store: Store, clock) -> None:
    await store.upsert_connection("acme", "u1", vendor_user_id="v1", scopes=["read"], access_token="t",
                                  refresh_token="r", token_expires_at=None)
    assert await store.set_connection_status("acme", "u1", "reauth_required", last_error="invalid_grant")
    # the same status again is no transition: no second event
    assert await store.set_connection_status("acme", "u1", "reauth_required", last_error="invalid_grant")
    clock.advance(60)
    await store.upsert_connection("acme", "u1", vendor_user_id="v1", scopes=["read"], access_token="t2",
                                  refresh_token="r", token_expires_at=None)
    assert await store.purge_tokens("acme", "u1", status="revoked")
    found = await events(store)
    assert [e.event_type for e in found] == ["connection.created", "connection.reauth_required",
                                             "connection.created", "connection.revoked"]
    assert found[0].payload == {"user_id": "u1", "vendor": "acme", "status": "active", "scopes": ["read"],
                                "reconnected": False}
    assert found[1].payload["reason"] == "invalid_grant"
    assert found[2].payload["reconnected"] is True


async def test_dispatch_fans_out_by_subscription(store: Store) -> None:
    everything = await store.create_endpoint("https://a.example/hook", secret="whsec_a")
    connections = await store.create_endpoint("https://b.example/hook", secret="whsec_b",
                                              event_types=["connection.created"])
    no_remap = await store.create_endpoint("https://c.example/hook", secret="whsec_c", include_remap=False)
    await store.upsert_samples([sample("u1", "a")], origin="remap")
    await store.upsert_connection("acme", "u1", vendor_user_id="v1", scopes=[], access_token="t",
                                  refresh_token=None, token_expires_at=None)
    assert await store.dispatch_outbox() == 2
    assert await store.dispatch_outbox() == 0
    by_endpoint = {ep.id: [d.event_id for d in await store.list_deliveries(endpoint_id=ep.id)]
                   for ep in (everything, connections, no_remap)}
    remap_event, connected = [e.id for e in await store.list_changes()]
    assert by_endpoint == {everything.id: [remap_event, connected], connections.id: [connected],
                           no_remap.id: [connected]}


async def test_deliveries_go_in_order_per_endpoint_and_user(store: Store, clock) -> None:
    endpoint = await store.create_endpoint("https://a.example/hook", secret="whsec_a")
    for i in range(3):
        await store.upsert_samples([sample("u1", f"a{i}")])
    await store.upsert_samples([sample("u2", "b")])
    await store.dispatch_outbox()
    u1_events = [e.id for e in await store.list_changes(user_id="u1")]

    claimed = await store.claim_deliveries("w1", limit=10)
    # the head of u1's queue and u2's only event; u1's later events wait for their turn
    assert sorted((c.delivery.user_id, c.event.id) for c in claimed) == sorted(
        [("u1", u1_events[0]), ("u2", claimed[[c.delivery.user_id for c in claimed].index("u2")].event.id)])
    assert await store.claim_deliveries("w2", limit=10) == []
    head = next(c for c in claimed if c.delivery.user_id == "u1")
    assert head.endpoint.signing_secrets(clock()) == ["whsec_a"]

    # a failed head keeps the line: nothing behind it goes first
    state = await store.delivery_failed(endpoint.id, head.event.id, "w1", status=503, error="HTTP 503",
                                        policy=DeliveryPolicy(clock() + 10, 1000, 1e9))
    assert state == "pending"
    assert await store.claim_deliveries("w2", limit=10) == []
    assert await store.next_delivery_at() == pytest.approx(clock() + 10)
    clock.advance(11)
    (again,) = await store.claim_deliveries("w2", limit=10)
    assert again.event.id == u1_events[0] and again.delivery.attempts == 1
    # the first worker's late answer does not count: w2 holds the lease now
    assert not await store.delivery_succeeded(endpoint.id, head.event.id, "w1", status=200)
    assert await store.delivery_succeeded(endpoint.id, again.event.id, "w2", status=200)
    (second,) = await store.claim_deliveries("w2", limit=10)
    assert second.event.id == u1_events[1]


async def test_a_lapsed_lease_is_claimed_again(store: Store, clock) -> None:
    await store.create_endpoint("https://a.example/hook", secret="whsec_a")
    await store.upsert_samples([sample("u1", "a")])
    await store.dispatch_outbox()
    (first,) = await store.claim_deliveries("dead-worker", lease_s=30)
    assert await store.claim_deliveries("w2") == []
    clock.advance(31)
    (again,) = await store.claim_deliveries("w2")
    assert again.event.id == first.event.id


async def test_give_up_and_pause_write_delivery_failed(store: Store, clock) -> None:
    endpoint = await store.create_endpoint("https://a.example/hook", secret="whsec_a")
    watcher = await store.create_endpoint("https://ops.example/hook", secret="whsec_o",
                                          event_types=["delivery.failed"])
    await store.upsert_samples([sample("u1", "a")])
    await store.upsert_samples([sample("u2", "b")])
    await store.dispatch_outbox()
    first, second = await store.claim_deliveries("w", limit=10)
    assert await store.delivery_failed(endpoint.id, first.event.id, "w", status=500, error="HTTP 500",
                                       policy=RETRY) == "failed"
    clock.advance(5)
    policy = DeliveryPolicy(clock() + 60, pause_after_failures=2, pause_after_s=5)
    assert await store.delivery_failed(endpoint.id, second.event.id, "w", status=None, error="timeout",
                                       policy=policy) == "pending"
    paused = await store.get_endpoint(endpoint.id)
    assert paused is not None and paused.status == "paused" and "2 failed attempts" in (paused.paused_reason or "")
    clock.advance(120)
    assert await store.claim_deliveries("w", limit=10) == []  # paused: nothing is sent

    await store.dispatch_outbox()
    failures = [e.payload for e in await store.list_changes(event_types=["delivery.failed"])]
    assert [(f["reason"], f["endpoint_id"]) for f in failures] == [
        ("retry_horizon", endpoint.id), ("endpoint_paused", endpoint.id)]
    assert failures[0]["event_id"] == first.event.id and failures[0]["attempts"] == 1
    # the watching endpoint hears of both; the failing one is not told about itself
    assert len(await store.list_deliveries(endpoint_id=watcher.id)) == 2
    assert {d.event_id for d in await store.list_deliveries(endpoint_id=endpoint.id)} == {
        first.event.id, second.event.id}

    resumed = await store.update_endpoint(endpoint.id, status="active")
    assert resumed is not None and resumed.consecutive_failures == 0 and resumed.paused_reason is None
    (retried,) = await store.claim_deliveries("w", limit=10, exclude_endpoints=[watcher.id])
    assert retried.event.id == second.event.id


async def test_replay_of_a_range_and_of_one_event(store: Store, clock) -> None:
    endpoint = await store.create_endpoint("https://a.example/hook", secret="whsec_a")
    await store.upsert_samples([sample("u1", "a")])
    start = clock()
    clock.advance(10)
    await store.upsert_samples([sample("u1", "b")])
    await store.dispatch_outbox()
    for _ in range(2):
        (claimed,) = await store.claim_deliveries("w")
        await store.delivery_succeeded(endpoint.id, claimed.event.id, "w", status=204)
    assert await store.claim_deliveries("w") == []
    assert await store.replay_deliveries(endpoint.id, since=start + 5) == 1
    (again,) = await store.claim_deliveries("w")
    assert again.event.payload["samples"][0]["sample"]["timestamp_utc"].startswith("2026-03-01T06:00")
    await store.delivery_succeeded(endpoint.id, again.event.id, "w", status=204)
    first = (await store.list_changes())[0]
    assert await store.replay_deliveries(endpoint.id, event_id=first.id) == 1
    assert [c.event.id for c in await store.claim_deliveries("w")] == [first.id]
    assert await store.replay_deliveries("ep_missing", event_id=first.id) == -1


async def test_secret_rotation_keeps_the_old_one_for_the_overlap(store: Store, clock) -> None:
    endpoint = await store.create_endpoint("https://a.example/hook", secret="whsec_old")
    rotated = await store.rotate_endpoint_secret(endpoint.id, "whsec_new", overlap_s=3600)
    assert rotated is not None and rotated.signing_secrets(clock()) == ["whsec_new", "whsec_old"]
    clock.advance(3601)
    assert rotated.signing_secrets(clock()) == ["whsec_new"]
    again = await store.rotate_endpoint_secret(endpoint.id, "whsec_newest", overlap_s=60)
    assert again is not None and again.signing_secrets(clock()) == ["whsec_newest", "whsec_new"]
    assert "whsec" not in repr(again)


async def test_sync_windows_end_with_one_completed_per_resource(store: Store) -> None:
    await store.create_sync("sync_1", "acme", "u1", windows_total=3, detail={"resources": {"hr": 2, "sleep": 1}})
    assert await store.note_sync_window("sync_1", vendor="acme", user_id="u1", resource="hr",
                                        window_key="w0", records=3) == ["sync.progress"]
    # the same window noted again (a retried job) counts once
    assert await store.note_sync_window("sync_1", vendor="acme", user_id="u1", resource="hr",
                                        window_key="w0", records=3) == []
    assert await store.note_sync_window("sync_1", vendor="acme", user_id="u1", resource="sleep",
                                        window_key="w0", failed=True) == ["sync.progress", "sync.completed"]
    assert await store.note_sync_window("sync_1", vendor="acme", user_id="u1", resource="hr",
                                        window_key="w1", records=4) == ["sync.progress", "sync.completed"]
    found = await events(store)
    completed = [e.payload for e in found if e.event_type == "sync.completed"]
    assert [(c["resource"], c["windows_done"], c["records"], c["errors"]) for c in completed] == [
        ("sleep", 1, 0, 1), ("hr", 2, 7, 0)]
    assert {e.origin for e in found} == {"backfill"}
