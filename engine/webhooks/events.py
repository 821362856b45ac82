"""Turn a decoded delivery into events with the spec's extractors (JMESPath, compiled at load).

One delivery may carry many events: a JSON array, or several extractors whose `select` picks the
items of one data type each. Ids are normalised to strings so integer and string ids both work.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from engine.spec.model import EventExtractor

MAX_EVENTS_PER_DELIVERY = 1000


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    vendor: str
    key: str  # the inbox dedupe key: vendor event id, or a hash of the event
    event_id: str | None
    event_type: str | None
    vendor_user_id: str | None
    object_id: str | None
    callback_url: str | None
    data: Any
    window_start: str | None
    window_end: str | None
    item: Any  # the event as the vendor sent it


class TooManyEvents(ValueError):
    pass


def extract_events(vendor: str, extractors: tuple[EventExtractor, ...], document: Any) -> list[WebhookEvent]:
    events: list[WebhookEvent] = []
    for extractor in extractors:
        for item in _items(extractor, document):
            events.append(_event(vendor, extractor, item))
            if len(events) > MAX_EVENTS_PER_DELIVERY:
                raise TooManyEvents(f"more than {MAX_EVENTS_PER_DELIVERY} events in one delivery")
    return events


def _items(extractor: EventExtractor, document: Any) -> list[Any]:
    selected = extractor.select.search(document) if extractor.select else document
    if selected is None:
        return []
    if isinstance(selected, list):
        return [item for item in selected if item is not None]
    return [selected]


def _event(vendor: str, extractor: EventExtractor, item: Any) -> WebhookEvent:
    def read(expr):
        return None if expr is None else expr.search(item)

    event_id = scalar_text(read(extractor.id))
    event_type = scalar_text(read(extractor.type))
    if event_id is not None:
        key = f"{event_type or ''}/{event_id}"
        if extractor.updates_reuse_id:  # an update under the same id is new; a replay is not
            key += "#" + hashlib.sha256(canonical_json(item)).hexdigest()[:32]
    else:
        key = "sha256:" + hashlib.sha256(vendor.encode() + b"\x1f" + canonical_json(item)).hexdigest()
    return WebhookEvent(
        vendor=vendor,
        key=key,
        event_id=event_id,
        event_type=event_type,
        vendor_user_id=scalar_text(read(extractor.user)),
        object_id=scalar_text(read(extractor.object_id)),
        callback_url=scalar_text(read(extractor.callback_url)),
        data=read(extractor.data),
        window_start=time_text(read(extractor.window_start), extractor.time_format),
        window_end=time_text(read(extractor.window_end), extractor.time_format),
        item=item,
    )


def scalar_text(value: Any) -> str | None:
    """Ids and types as text: 123, 123.0 and "123" are all "123"; anything else is no id."""
    kind = type(value)
    if kind is str:
        return value if value.strip() else None
    if kind is int:
        return str(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value if value.strip() else None
    return None


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def time_text(value: Any, time_format: str) -> str | None:
    """A window bound as RFC 3339 (UTC when the vendor gives an offset) or a date (YYYY-MM-DD);
    None when unreadable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if time_format in ("epoch_s", "epoch_ms") or isinstance(value, (int, float)):
            seconds = float(value) / (1000 if time_format == "epoch_ms" else 1)
            return _utc(datetime.fromtimestamp(seconds, UTC))
        text = str(value).strip()
        if time_format == "date" or (len(text) == 10 and text[4:5] == "-"):
            return date.fromisoformat(text[:10]).isoformat()
        if "%" in time_format:
            parsed = datetime.strptime(text, time_format)
        else:
            parsed = datetime.fromisoformat(text)  # 3.11 reads a trailing Z
        # A time without an offset is the vendor's local time: passed on as written.
        return parsed.isoformat() if parsed.tzinfo is None else _utc(parsed)
    except (ValueError, OverflowError, OSError, TypeError):
        return None


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
