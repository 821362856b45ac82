"""Deleting a user reaches everything, on SQLite and PostgreSQL: after a backfill, webhooks, a
re-map, a queued sync, a started connection and outbound deliveries, `DELETE /v1/users/{id}`
leaves no row in any table (enumerated from the database's own catalogue) naming the user's id,
their vendor user id or their health data (searched inside JSON payloads and compressed raw
bodies too), except the keyed-hash audit row and the data-free connection.revoked event (and its
delivery) that tells the customer the connection ended. Another user's data is untouched."""

from __future__ import annotations

import json
from typing import Any

import pytest
import zstandard

from tests.auth.harness import AUTH, connect
from tests.e2e.helpers import drain, engine_app, send_whoop_webhook

pytestmark = pytest.mark.anyio

GONE = "erase-me-7f3a"
KEPT = "keep-me-2b9c"
REVOKED_FIELDS = {"user_id", "vendor", "status", "reason"}
_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
}
_zstd = zstandard.ZstdDecompressor()


def _texts(value: Any) -> list[str]:
    """A column value as the texts to search: JSON and zstd bodies opened up."""
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes):
        try:
            value = _zstd.decompress(value).decode()
        except zstandard.ZstdError:
            value = value.decode("latin-1")
    if not isinstance(value, str):
        return [str(value)]
    try:
        parsed = json.loads(value)
    except ValueError:
        return [value]
    return [value, *_leaves(parsed)]


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [str(value)]


def _names(value: Any, substrings: set[str], exact: set[str]) -> set[str]:
    found = set()
    for text in _texts(value):
        found |= {s for s in substrings if s in text}
        found |= exact & {text}
    return found


async def _dump(engine) -> dict[str, list[dict[str, Any]]]:
    executor = engine.store.executor
    tables = [row[0] for row in await executor.read_all(_TABLES[executor.dialect.name])]
    assert {"samples", "raw_records", "inbox_events", "jobs", "outbox_events", "erasures"} <= set(tables)
    dump = {}
    for table in tables:
        if table == "schema_migrations":
            continue
        rows = await executor.read_all(f"SELECT * FROM {table}")
        columns = [c[0] for c in (await executor.read_all(
            "SELECT name FROM pragma_table_info(?)" if executor.dialect.name == "sqlite" else
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position", (table,)))]
        dump[table] = [dict(zip(columns, row, strict=True)) for row in rows]
    return dump


async def test_deleting_a_user_leaves_nothing_of_them_in_any_table(env, sim, clock, database_url):
    settings = {**env, "ENGINE_OUTBOUND_ALLOW_PRIVATE": "1"}
    if database_url is not None:
        settings["ENGINE_DATABASE_URL"] = database_url
    gone_user = sim.state.default_user("whoop")
    kept_user = sim.state.add_user("whoop", days=3)
    async with engine_app(settings, clock) as (engine, client):
        answer = await client.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/hook"}, headers=AUTH)
        assert answer.status_code == 201, answer.text
        assert (await connect(client, "whoop", GONE)).status_code == 200
        sim.state.next_authorize("whoop", user=kept_user.key)
        assert (await connect(client, "whoop", KEPT)).status_code == 200
        await drain(engine)  # both initial backfills

        sleeps = sim.state.records("whoop", "sleep", gone_user.key)
        secret = sim.state.client("whoop").client_secret
        event = {"user_id": gone_user.vendor_id, "id": sleeps[0]["id"], "type": "sleep.updated", "trace_id": "t"}
        assert (await send_whoop_webhook(client, secret, event, int(clock() * 1000))).status_code < 300
        await drain(engine)
        assert (await client.post("/v1/vendors/whoop/remap", json={"user": GONE}, headers=AUTH)).status_code == 200
        answer = await client.post(f"/v1/users/{GONE}/connections/whoop/sync", json={"since": "2000-01-01"},
                                   headers=AUTH)
        assert answer.status_code == 202, answer.text  # queued, never run
        answer = await client.post(f"/v1/users/{GONE}/connections/whoop", headers=AUTH)
        assert answer.status_code == 201  # a consent started and never finished
        await engine.store.dispatch_outbox()

        health = {s["id"] for s in sleeps} | {str(c["id"]) for c in sim.state.records("whoop", "cycle", gone_user.key)}
        vendor_id = str(gone_user.vendor_id)
        before = await _dump(engine)
        held = {table for table, rows in before.items()
                if any(_names(v, {GONE, *health}, {vendor_id}) for row in rows for v in row.values())}
        assert {"samples", "raw_records", "inbox_events", "jobs", "outbox_events", "outbound_deliveries",
                "connections", "oauth_states", "syncs", "cursors", "remap_runs"} <= held

        answer = await client.delete(f"/v1/users/{GONE}", headers=AUTH)
        assert answer.status_code == 200, answer.text

        after = await _dump(engine)
        revoked = {row["id"] for row in after["outbox_events"] if row["event_type"] == "connection.revoked"}
        assert len(revoked) == 1
        for table, rows in after.items():
            for row in rows:
                named = set().union(*(_names(v, {GONE, *health}, {vendor_id}) for v in row.values()))
                if not named:
                    continue
                if table == "outbox_events" and row["id"] in revoked:
                    payload = json.loads(row["payload"])
                    assert set(payload) <= REVOKED_FIELDS and payload["user_id"] == GONE
                    assert named == {GONE}, named
                elif table == "outbound_deliveries" and row["event_id"] in revoked:
                    assert named == {GONE}, named
                else:
                    pytest.fail(f"{table} still names {sorted(named)[:3]}: {str(row)[:300]}")
        [erasure] = after["erasures"]
        assert GONE not in json.dumps(erasure) and erasure["reason"] == "user_deleted"
        assert json.loads(erasure["counts"])["raw_records"] > 0

        # The customer still hears of it: the revoked event is dispatched to the endpoint.
        await engine.store.dispatch_outbox()
        deliveries = await engine.store.list_deliveries(event_id=next(iter(revoked)))
        assert len(deliveries) == 1
        # The other user keeps everything.
        kept = await client.get(f"/v1/users/{KEPT}/samples", headers=AUTH, params={"limit": 10})
        assert kept.json()["samples"]
        assert await engine.store.count_raw_heads("whoop", user_id=KEPT) > 0
        assert (await engine.store.get_connection("whoop", KEPT)) is not None
