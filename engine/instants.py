"""Instants in and out: RFC 3339 text in UTC for people and JSON, and expiries as vendors write them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

_EPOCH_MS_THRESHOLD = 1e11  # a number this large is milliseconds, not seconds


@overload
def iso_utc(moment: None, timespec: str = "auto") -> None: ...
@overload
def iso_utc(moment: float | datetime, timespec: str = "auto") -> str: ...
def iso_utc(moment: float | datetime | None, timespec: str = "auto") -> str | None:
    """`2026-03-01T12:00:00Z` from epoch seconds or an aware datetime; None stays None."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def epoch_seconds(value: Any) -> float | None:
    """An expiry a vendor reports (RFC 3339 text, or epoch seconds / milliseconds) as epoch
    seconds, or None when the value is not a readable time."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) / 1000 if value > _EPOCH_MS_THRESHOLD else float(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return epoch_seconds(float(text))
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None
