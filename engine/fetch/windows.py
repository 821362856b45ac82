"""Time windows: split a range into the spec's maximum span and format each bound as the API wants.

Windows are half-open, ``[start, end)``, in UTC. Formats:
- ``iso``: RFC 3339 in UTC with a ``Z`` suffix (milliseconds only when the instant has them);
- ``date``: ``YYYY-MM-DD``; windows are aligned to whole UTC days so no day is skipped or
  fetched twice, and with ``end_inclusive`` the end names the last day inside the window;
- ``epoch_s`` / ``epoch_ms``: integer UNIX time;
- a strftime pattern (``%Y-%m-%dT%H:%M:%S``): rendered in UTC, or with ``local`` as the user's
  wall-clock time (a civil-time filter): each bound is moved by the connection's UTC offset, the
  start by the smallest and the end by the largest offset in force during the window, so a DST
  change or a move inside the window loses no local time (the overlap is deduplicated); with no
  known zone the bounds widen by the most any zone can be from UTC.
With ``end_inclusive`` the end bound is the last instant inside the window (one unit before
``end``), for APIs that treat their end parameter as inclusive; with ``start_exclusive`` the start
bound is one unit before ``start`` (a day for dates), for APIs that exclude the start they are
given, so the window's first unit is read (the overlap is deduplicated).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from engine.mapping.zones import ZoneHistory
from engine.spec.model import Window

WINDOW_FORMATS = ("iso", "date", "epoch_s", "epoch_ms")
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    start: datetime
    end: datetime

    def to_payload(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_payload(cls, data: dict[str, str]) -> TimeWindow:
        return cls(as_utc(datetime.fromisoformat(data["start"])), as_utc(datetime.fromisoformat(data["end"])))


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{value.isoformat()} has no UTC offset")
    return value.astimezone(UTC)


def _floor_day(value: datetime) -> datetime:
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil_day(value: datetime) -> datetime:
    floored = _floor_day(value)
    return floored if floored == value else floored + _DAY


def _bounds(since: datetime, until: datetime, window: Window | None) -> tuple[datetime, datetime]:
    start, end = as_utc(since), as_utc(until)
    if end > start and window is not None and window.format == "date":
        start, end = _floor_day(start), _ceil_day(end)
    return start, end


def _span(window: Window) -> timedelta:
    if window.format == "date":
        return max(_DAY, timedelta(days=window.max_s // 86400))
    return timedelta(seconds=window.max_s)


def count_windows(since: datetime, until: datetime, window: Window | None) -> int:
    """How many windows `plan_windows` makes for ``[since, until)``, without making them."""
    start, end = _bounds(since, until, window)
    if end <= start:
        return 0
    if window is None:
        return 1
    return -((start - end) // _span(window))


def plan_windows(since: datetime, until: datetime, window: Window | None) -> list[TimeWindow]:
    """The windows covering ``[since, until)`` in order; one window when the spec sets no span."""
    start, end = _bounds(since, until, window)
    if end <= start:
        return []
    if window is None:
        return [TimeWindow(start, end)]
    span = _span(window)
    windows: list[TimeWindow] = []
    cursor = start
    while cursor < end:
        nxt = min(cursor + span, end)
        windows.append(TimeWindow(cursor, nxt))
        cursor = nxt
    return windows


def format_iso(value: datetime) -> str:
    value = as_utc(value)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch_ms(value: datetime) -> int:
    delta = as_utc(value) - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(milliseconds=1)


def format_bound(value: datetime, fmt: str) -> str:
    if fmt == "iso":
        return format_iso(value)
    if fmt == "date":
        return as_utc(value).date().isoformat()
    if fmt == "epoch_s":
        return str(_epoch_ms(value) // 1000)
    if fmt == "epoch_ms":
        return str(_epoch_ms(value))
    if "%" in fmt:  # a strftime pattern, rendered in UTC
        return as_utc(value).strftime(fmt)
    raise ValueError(f"unknown window format {fmt!r}; use one of {', '.join(WINDOW_FORMATS)}")


# UTC offsets in use run from -12:00 to +14:00.
_UNKNOWN_OFFSETS = (timedelta(hours=-12), timedelta(hours=14))


def _offsets(tw: TimeWindow, zones: ZoneHistory | None) -> tuple[timedelta, timedelta]:
    """The smallest and largest UTC offset of the user during the window, sampled at both ends,
    daily in between and where the connection's zone changes."""
    if not zones:
        return _UNKNOWN_OFFSETS
    moments = {tw.start, tw.end}
    day = tw.start + _DAY
    while day < tw.end:
        moments.add(day)
        day += _DAY
    moments.update(e.since for e in zones.entries if tw.start < e.since < tw.end)
    found = []
    for moment in moments:
        entry = zones.at_instant(moment)
        if entry is not None:
            found.append(moment.astimezone(entry.zone).utcoffset() or timedelta(0))
    return (min(found), max(found)) if found else _UNKNOWN_OFFSETS


def _wall(value: datetime, offset: timedelta) -> datetime:
    return (as_utc(value) + offset).replace(tzinfo=UTC)  # formatted without an offset


_INCLUSIVE_STEP = {
    "iso": timedelta(milliseconds=1),
    "date": _DAY,
    "epoch_s": timedelta(seconds=1),
    "epoch_ms": timedelta(milliseconds=1),
}


def window_values(tw: TimeWindow, window: Window | None, zones: ZoneHistory | None = None) -> dict[str, str]:
    """Template values ``window.start`` / ``window.end`` for one window (with `window.local`, as
    wall-clock times in the connection's zones)."""
    fmt = window.format if window is not None else "iso"
    start, end = tw.start, tw.end
    if window is not None and window.local:
        low, high = _offsets(tw, zones)
        start, end = _wall(start, low), _wall(end, high)
    step = _INCLUSIVE_STEP.get(fmt, timedelta(seconds=1))
    if window is not None and window.end_inclusive:
        end = max(tw.start, end - step)
    if window is not None and window.start_exclusive:
        start = start - step
    return {"window.start": format_bound(start, fmt), "window.end": format_bound(end, fmt)}


# A record time without an offset is the user's local time; it may be up to 14 h ahead of UTC.
_LOCAL_TIME_SLACK = timedelta(hours=14)


def _record_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC) - _LOCAL_TIME_SLACK
    return parsed.astimezone(UTC)


def reached_window_end(records: list[object], tw: TimeWindow, window: Window | None) -> bool:
    """For a list read oldest first from the window's start (`window.sorted_by`): whether this
    page's last record is at or past the window's end, so later pages belong to later windows."""
    if window is None or window.sorted_by is None or not records:
        return False
    last = _record_time(window.sorted_by.search(records[-1]))
    return last is not None and last >= tw.end
