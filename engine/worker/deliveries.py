"""History windows a vendor accepted for later delivery (a list request answered with the
resource's `accepted_status`, e.g. 202): the sync counts them as requested, and each is completed
when pushed data for its resource and user lands inside it, or after a grace period with no push
(the vendor had nothing to send)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from engine.fetch.windows import TimeWindow
from engine.spec.model import Spec
from engine.store.port import AwaitedWindow

log = logging.getLogger("engine.sync")

AWAIT_DELIVERY_S = 86400.0  # a requested window with no push after this long is closed


async def await_delivery(
    engine: Any, spec: Spec, user_id: str, resource: str, window: TimeWindow, sync_id: str | None
) -> None:
    await engine.store.add_awaited_window(spec.id, user_id, resource, start=window.start, end=window.end,
                                          sync_id=sync_id)
    log.info("window requested; awaiting delivery", extra={"vendor": spec.id, "user": user_id,
                                                           "resource": resource, "sync_id": sync_id})


async def delivered(
    engine: Any, spec: Spec, user_id: str, resource: str, span: tuple[datetime, datetime] | None, records: int
) -> int:
    """Complete the awaited windows the delivered samples fall in; returns how many."""
    if span is None:
        return 0
    windows = await engine.store.complete_awaited_windows(spec.id, user_id, resource, start=span[0], end=span[1])
    counted = False
    for window in windows:
        if window.sync_id:
            await engine.store.update_sync(window.sync_id, add_windows_done=1,
                                           add_records=0 if counted else records)
            await _note(engine, window, records=0 if counted else records)
            counted = True
    if windows:
        log.info("requested windows delivered", extra={"vendor": spec.id, "user": user_id,
                                                       "resource": resource, "windows": len(windows)})
    return len(windows)


async def close_overdue(engine: Any, now: float, *, grace_s: float = AWAIT_DELIVERY_S) -> int:
    """Close windows whose delivery never came (nothing to deliver); returns how many."""
    windows = await engine.store.expire_awaited_windows(older_than_s=grace_s, now=now)
    for window in windows:
        if window.sync_id:
            await engine.store.update_sync(window.sync_id, add_windows_done=1)
            await _note(engine, window, records=0)
    return len(windows)


async def _note(engine: Any, window: AwaitedWindow, *, records: int) -> None:
    """sync.progress for the window (sync.completed after the resource's last), as for a window
    fetched by the sync itself; keyed by its span, so a window requested twice is reported once."""
    assert window.sync_id is not None
    await engine.store.note_sync_window(
        window.sync_id, vendor=window.vendor, user_id=window.user_id, resource=window.resource,
        window_key=f"awaited\x1f{window.start.isoformat()}\x1f{window.end.isoformat()}", records=records)
