"""Timestamp and time-zone parsers, chosen once per mapping from the spec's declared formats."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.spec.functions import parse_iso

TimeParser = Callable[[Any], datetime | None]  # None: missing or unparsable
LocalZone = tzinfo  # a fixed offset or an IANA zone, resolved per record from the tz field
ZoneParser = Callable[[Any], LocalZone | None]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})?$")
_MAX_OFFSET_MIN = 18 * 60


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def _epoch(scale: float) -> TimeParser:
    def parse(value: Any) -> datetime | None:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return None
        if not _is_number(value):
            return None
        try:
            return _EPOCH + timedelta(seconds=value * scale)
        except (OverflowError, ValueError):
            return None

    return parse


def _parse_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day)


def _pattern(fmt: str) -> TimeParser:
    def parse(value: Any) -> datetime | None:
        if not isinstance(value, str):
            return None
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            return None

    return parse


def time_parser(fmt: str, *, utc: bool = False) -> TimeParser:
    """A parser for ``iso``, ``epoch_s``, ``epoch_ms``, ``date`` or a strftime pattern.

    Results are aware when the input carries an offset (epochs are UTC), naive otherwise; with
    ``utc`` a time without offset is UTC (the vendor defines it so).
    """
    if utc:
        plain = time_parser(fmt)

        def as_utc(value: Any) -> datetime | None:
            moment = plain(value)
            return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment

        return as_utc
    if fmt == "iso":
        return _parse_iso
    if fmt == "epoch_s":
        return _epoch(1.0)
    if fmt == "epoch_ms":
        return _epoch(0.001)
    if fmt == "date":
        return _parse_date
    if "%" in fmt:
        return _pattern(fmt)
    raise ValueError(f"unknown time format {fmt!r}")


@lru_cache(maxsize=256)
def fixed_zone(minutes: int) -> timezone:
    return UTC if minutes == 0 else timezone(timedelta(minutes=minutes))


@lru_cache(maxsize=512)
def _iana_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _offset_minutes(minutes: float) -> LocalZone | None:
    whole = round(minutes)
    return fixed_zone(whole) if abs(whole) <= _MAX_OFFSET_MIN else None


def _zone_from_offset(value: Any) -> LocalZone | None:
    if not isinstance(value, str):
        return None
    if value in ("Z", "z"):
        return UTC
    match = _OFFSET.match(value)
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    total = int(hours) * 60 + int(minutes or 0)
    return _offset_minutes(-total if sign == "-" else total)


def _zone_from_number(scale: float) -> ZoneParser:
    def parse(value: Any) -> LocalZone | None:
        return _offset_minutes(value * scale) if _is_number(value) else None

    return parse


def _zone_from_iana(value: Any) -> LocalZone | None:
    return _iana_zone(value) if isinstance(value, str) and value else None


def zone_parser(fmt: str) -> ZoneParser:
    """A parser for a tz field: ``offset`` (``-04:00``, ``Z``), ``seconds``, ``minutes``, ``iana``."""
    if fmt == "offset":
        return _zone_from_offset
    if fmt == "seconds":
        return _zone_from_number(1 / 60)
    if fmt == "minutes":
        return _zone_from_number(1.0)
    if fmt == "iana":
        return _zone_from_iana
    raise ValueError(f"unknown tz format {fmt!r}")


def carries_local_offset(fmt: str) -> bool:
    """Whether a parsed value's own offset is the local one (epochs are UTC instants only)."""
    return fmt not in ("epoch_s", "epoch_ms")


def localize(
    moment: datetime, zone: LocalZone | None, own_offset_is_local: bool = True
) -> tuple[datetime, int | None]:
    """The instant in UTC and the local offset in minutes (None when unknown).

    A naive ``moment`` is a wall-clock time in ``zone``; without a zone it is taken as UTC with an
    unknown local offset. An aware ``moment`` keeps its instant; ``zone`` decides the offset, else
    the moment's own offset does when ``own_offset_is_local``.
    """
    if moment.tzinfo is None:
        if zone is None:
            return moment.replace(tzinfo=UTC), None
        moment = moment.replace(tzinfo=zone)
    elif zone is not None:
        moment = moment.astimezone(zone)
    elif not own_offset_is_local:
        return moment.astimezone(UTC), None
    offset = moment.utcoffset()
    minutes = None if offset is None else int(offset.total_seconds() // 60)
    return moment.astimezone(UTC), minutes


def rfc3339_utc(moment: datetime) -> str:
    """``2024-03-01T06:30:00Z`` for a UTC moment; milliseconds or microseconds only when present."""
    naive = moment.replace(tzinfo=None)
    micro = moment.microsecond
    if micro == 0:
        return naive.isoformat() + "Z"
    if micro % 1000 == 0:
        return naive.isoformat(timespec="milliseconds") + "Z"
    return naive.isoformat(timespec="microseconds") + "Z"


def canonical_utc_text(raw: str) -> str | None:
    """What `rfc3339_utc` gives for ``raw`` (text already parsed to a UTC moment), read off the text.

    Only for text in the extended form with ``Z`` or ``+00:00`` and no, 3 or 6 fraction digits
    (``2024-03-01T06:30:00Z``, ``...00.250+00:00``); None otherwise, and the moment must then be
    formatted. The digits are not checked: ``datetime.fromisoformat`` accepted them. The
    generated mapping code inlines the common cases of this.
    """
    size = len(raw)
    if raw[-1:] == "Z":
        body = size - 1
    elif raw[-6:] == "+00:00":
        body = size - 6
    else:
        return None
    if raw[4:5] != "-" or raw[7:8] != "-" or raw[10:11] != "T" or raw[13:14] != ":" or raw[16:17] != ":":
        return None
    if body == 19:
        return raw if body == size - 1 else raw[:19] + "Z"
    if (body != 23 and body != 26) or raw[19] != ".":
        return None
    if raw[20:23] == "000" and raw[23:body] in ("", "000"):
        return raw[:19] + "Z"
    if body == 26 and raw[23:26] == "000":
        return raw[:23] + "Z"
    return raw if body == size - 1 else raw[:body] + "Z"


def local_date(utc_moment: datetime, offset_min: int | None) -> str:
    local = utc_moment if offset_min is None else utc_moment + timedelta(minutes=offset_min)
    return local.date().isoformat()
