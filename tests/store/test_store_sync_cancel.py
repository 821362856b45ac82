"""Contract: a sync's queued windows can be claimed alone (by their key prefix) and cancelled."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.store import JobSpec, Store
from engine.store.records import sync_job_key_prefix

pytestmark = pytest.mark.anyio


def window_job(sync_id: str, index: int) -> JobSpec:
    return JobSpec("sync_window", {"sync_id": sync_id, "index": index},
                   idempotency_key=f"{sync_job_key_prefix(sync_id)}sleep\x1f{index}", vendor="acme", user_id="u1")


async def test_cancel_removes_only_the_syncs_queued_windows(store: Store) -> None:
    await store.create_sync("sync_a", "acme", "u1", windows_total=5)  # 4 queued + 1 awaiting a push
    await store.create_sync("sync_ab", "acme", "u1", windows_total=1)  # its id extends the other's
    await store.enqueue_many([window_job("sync_a", i) for i in range(4)] + [window_job("sync_ab", 0)])
    running = await store.claim("w1", key_prefix=sync_job_key_prefix("sync_a"))
    assert running is not None and running.payload["sync_id"] == "sync_a"
    await store.add_awaited_window("acme", "u1", "sleep", start=datetime(2026, 1, 1, tzinfo=UTC),
                                   end=datetime(2026, 1, 2, tzinfo=UTC), sync_id="sync_a")

    cancelled = await store.cancel_sync("sync_a", now=1000.0)
    assert cancelled is not None
    # 3 queued windows + 1 awaited; the running one finishes and is counted when it does
    assert (cancelled.windows_cancelled, cancelled.cancelled_at, cancelled.finished) == (4, 1000.0, False)
    assert cancelled.windows_left == 1
    await store.update_sync("sync_a", add_windows_done=1)
    assert (await store.get_sync("sync_a")).finished

    assert await store.claim("w2", key_prefix=sync_job_key_prefix("sync_a")) is None
    other = await store.claim("w2", key_prefix=sync_job_key_prefix("sync_ab"))
    assert other is not None and other.payload["sync_id"] == "sync_ab"
    assert await store.list_awaited_windows(sync_id="sync_a") == []
    assert (await store.get_job(running.id)).state == "running"

    again = await store.cancel_sync("sync_a", now=2000.0)  # idempotent: first stamp kept
    assert (again.windows_cancelled, again.cancelled_at) == (4, 1000.0)
    assert await store.cancel_sync("missing") is None
