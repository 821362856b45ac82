"""Reading an expiry a vendor reports: RFC 3339 text, or epoch seconds / milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_EPOCH_MS_THRESHOLD = 1e11  # a number this large is milliseconds, not seconds


def epoch_seconds(value: Any) -> float | None:
    """The instant as epoch seconds, or None when the value is not a readable time."""
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
