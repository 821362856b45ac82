"""A connection's time zone over time, and the rule that decides a sample's zone.

Vendors send some times as local wall-clock times without an offset. Such a time is converted
with the zone that was in force for the user at that instant: the connection keeps a history of
zones (people travel), each in force from the moment it was observed (or, for a zone read off a
record, from that record's time) until the next one. Before the first known entry the first
entry is assumed: a backfill reads data from before the connection existed.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from engine.mapping.timefmt import fixed_zone, localize, zone_parser
from engine.spec.model import ZoneSource

# Where a sample's zone came from (the sample's `tz_source`).
TZ_SOURCES = ("record", "connection", "app", "unknown")
ZONE_ORIGINS = ("connection", "app")  # what a connection's zone history entries can say

_MAX_LOCAL_SHIFT = timedelta(hours=14)


@dataclass(frozen=True, slots=True)
class ZoneEntry:
    since: datetime  # UTC; the zone is in force from this instant
    zone: tzinfo
    origin: str  # "connection" (the vendor said so) or "app" (the app said so)
    name: str  # as stored: an IANA name or "+HH:MM"


def parse_zone_text(text: str) -> tzinfo | None:
    """A stored zone: an IANA name or a fixed offset written ``+HH:MM``."""
    if text[:1] in ("+", "-"):
        return zone_parser("offset")(text)
    return zone_parser("iana")(text)


def zone_name(zone: tzinfo) -> str:
    """How a parsed zone is stored: its IANA key, or its fixed offset as ``+HH:MM``."""
    key = getattr(zone, "key", None)
    if isinstance(key, str):
        return key
    offset = zone.utcoffset(None) or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def read_zone(raw: object, fmt: str) -> tzinfo | None:
    """A zone from a vendor field in the spec's format (``milliseconds`` for an offset in ms)."""
    if fmt == "milliseconds":
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            return None
        minutes = round(raw / 60000)
        return fixed_zone(minutes) if abs(minutes) <= 18 * 60 else None
    return zone_parser(fmt)(raw)


def ranked_history(sources: Sequence[ZoneSource], rows: Iterable[tuple[float, str, str]]) -> ZoneHistory | None:
    """A connection's stored zones (since, name, origin) as the spec's `time_zone` ranks its
    sources: when a source listed before `app` has ever answered, the app's zone is not used.
    None without any zone."""
    if not sources:
        return None
    kinds = [source.kind for source in sources]
    prefers_vendor = "app" not in kinds or any(k != "app" for k in kinds[: kinds.index("app")])
    rows = list(rows)
    if prefers_vendor and any(origin == "connection" for _, _, origin in rows):
        rows = [row for row in rows if row[2] == "connection"]
    entries = []
    for since, name, origin in rows:
        zone = parse_zone_text(name)
        if zone is not None:
            entries.append(ZoneEntry(datetime.fromtimestamp(since, UTC), zone, origin, name))
    return ZoneHistory(entries) if entries else None


class ZoneHistory:
    """The zones of one connection, oldest first."""

    __slots__ = ("_entries", "_starts")

    def __init__(self, entries: Iterable[ZoneEntry]) -> None:
        self._entries = sorted(entries, key=lambda e: e.since)
        self._starts = [e.since for e in self._entries]

    def __bool__(self) -> bool:
        return bool(self._entries)

    @property
    def entries(self) -> tuple[ZoneEntry, ...]:
        return tuple(self._entries)

    def latest(self) -> ZoneEntry | None:
        return self._entries[-1] if self._entries else None

    def at_instant(self, moment: datetime) -> ZoneEntry | None:
        """The entry in force at an aware instant."""
        if not self._entries:
            return None
        index = bisect_right(self._starts, moment) - 1
        return self._entries[max(index, 0)]

    def at_local(self, wall: datetime) -> ZoneEntry | None:
        """The entry in force at a naive wall-clock time: each candidate zone is tried on the time
        and kept when the resulting instant falls in its span."""
        entries = self._entries
        if len(entries) <= 1:
            return entries[0] if entries else None
        # Only the entries whose span can hold the time (wall time is within 14 h of UTC).
        rough = wall.replace(tzinfo=UTC)
        low = max(bisect_right(self._starts, rough - _MAX_LOCAL_SHIFT) - 1, 0)
        high = bisect_right(self._starts, rough + _MAX_LOCAL_SHIFT)
        chosen = entries[low]
        for index in range(low, max(high, low + 1)):
            entry = entries[index]
            if wall.replace(tzinfo=entry.zone) >= entry.since:
                chosen = entry
        return chosen


def resolve(moment: datetime, zone: tzinfo | None, own_offset_is_local: bool = True,
            zones: ZoneHistory | None = None) -> tuple[datetime, int | None, str]:
    """The UTC instant, the local offset in minutes and the sample's `tz_source`.

    The record's own zone (``zone``, from `tz_offset`) or the moment's own offset wins; else the
    connection's zone in force at that time; else the offset is unknown and a local time is read
    as UTC, which the source says.
    """
    if zone is not None or (moment.tzinfo is not None and own_offset_is_local):
        utc, minutes = localize(moment, zone, own_offset_is_local)
        return utc, minutes, "record"
    if zones:
        entry = zones.at_local(moment) if moment.tzinfo is None else zones.at_instant(moment)
        if entry is not None:
            utc, minutes = localize(moment, entry.zone)
            return utc, minutes, entry.origin
    utc, minutes = localize(moment, None, own_offset_is_local)
    return utc, minutes, "unknown"
