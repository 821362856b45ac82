"""Turn one HTTP response into an outcome the fetch loop acts on.

Order: 401 → unauthorized; a retry status → retry (429 → rate limited); another non-success →
rejected with the vendor's message; then the JSON body: unreadable → malformed;
``rate_limited_when`` → rate limited; ``error_when`` → rejected. The spec's expressions let APIs
that answer errors with HTTP 200 be read like any other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from engine.spec.model import Limits

OutcomeKind = Literal["ok", "retry", "rate_limited", "unauthorized", "rejected", "malformed"]
_MESSAGE_LIMIT = 300
_MESSAGE_KEYS = ("message", "error_description", "error", "detail", "title", "errors")


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    status: int
    body: Any = None
    message: str = ""


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def _decode(raw: bytes) -> tuple[bool, Any]:
    if not raw.strip():
        return True, None
    try:
        return True, json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False, None


def vendor_message(limits: Limits, body: Any, raw: bytes) -> str:
    """The vendor's own words about an error, from the spec's error_message or common keys."""
    if limits.error_message is not None and body is not None:
        found = limits.error_message.search(body)
        if found not in (None, "", [], {}):
            return _shorten(found if isinstance(found, str) else json.dumps(found, default=str))
    if isinstance(body, dict):
        for key in _MESSAGE_KEYS:
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return _shorten(value)
            if isinstance(value, (dict, list)) and value:
                return _shorten(json.dumps(value, default=str))
    return _shorten(raw.decode("utf-8", "replace")) if raw else ""


def classify(
    status: int, raw: bytes, limits: Limits, *, ok_statuses: tuple[int, ...] = ()
) -> Outcome:
    success = 200 <= status < 300 or status in ok_statuses
    if status == 401:
        parsed, body = _decode(raw)
        return Outcome("unauthorized", status, message=vendor_message(limits, body, raw))
    if not success:
        parsed, body = _decode(raw)
        message = vendor_message(limits, body if parsed else None, raw)
        if status == 429:
            return Outcome("rate_limited", status, message=message or "rate limited")
        if status in limits.retry.statuses:
            return Outcome("retry", status, message=message or f"HTTP {status}")
        return Outcome("rejected", status, message=message or f"HTTP {status}")
    parsed, body = _decode(raw)
    if not parsed:
        return Outcome("malformed", status, message=f"response is not valid JSON ({len(raw)} bytes)")
    if body is not None:
        if limits.rate_limited_when is not None and _truthy(limits.rate_limited_when.search(body)):
            return Outcome("rate_limited", status, body, vendor_message(limits, body, raw) or "rate limited")
        if limits.error_when is not None and _truthy(limits.error_when.search(body)):
            return Outcome("rejected", status, body, vendor_message(limits, body, raw) or "vendor reported an error")
    return Outcome("ok", status, body)


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", [], {}, 0)
