"""Opaque cursors and window filters shared by the simulated list endpoints."""

from __future__ import annotations

import base64
import binascii

from sandbox.state import Record
from sandbox.timefmt import BadParam


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sim:{offset}".encode()).decode().rstrip("=")


def decode_cursor(token: str | None, name: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, offset = text.partition(":")
        if prefix != "sim":
            raise ValueError
        return int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadParam(f"{name} is not a valid pagination token") from None


def in_window(records: list[Record], start: float | None, end: float | None) -> list[Record]:
    """Records whose start lies in [start, end)."""
    return [r for r in records if (start is None or r.start >= start)
            and (end is None or r.start < end)]


def page(items: list, offset: int, size: int) -> tuple[list, int | None]:
    chunk = items[offset:offset + size]
    following = offset + size
    return chunk, following if following < len(items) else None
