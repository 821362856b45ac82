"""Timestamp renderings used by the vendors (and parsing of their query parameters)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone


class BadParam(ValueError):
    """A query/form parameter the vendor would reject with a 4xx."""


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def iso_z(ts: float) -> str:
    """2022-04-24T02:25:44.774Z"""
    return utc(ts).strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc(ts).microsecond // 1000:03d}Z"


def iso_offset(ts: float, offset_s: int) -> str:
    """2022-04-24T02:25:44+02:00 (local wall time with its offset)."""
    tz = timezone(timedelta(seconds=offset_s))
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def local_naive(ts: float, offset_s: int, millis: bool = True) -> str:
    """2018-03-01T09:24:30.000 (local wall time, no offset)."""
    text = utc(ts + offset_s).strftime("%Y-%m-%dT%H:%M:%S")
    return text + ".000" if millis else text


def offset_string(offset_s: int) -> str:
    """+hh:mm / -hh:mm"""
    sign = "-" if offset_s < 0 else "+"
    minutes = abs(offset_s) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def local_date(ts: float, offset_s: int) -> str:
    return utc(ts + offset_s).date().isoformat()


def midnight_utc(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def parse_datetime(text: str, name: str) -> float:
    """ISO date or date-time; naive values are UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise BadParam(f"{name} must be an ISO-8601 date-time, got {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def parse_date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise BadParam(f"{name} must be a date YYYY-MM-DD, got {text!r}") from None


def parse_int(text: str | None, name: str, default: int | None = None) -> int:
    if text is None or text == "":
        if default is None:
            raise BadParam(f"{name} is required")
        return default
    try:
        return int(text)
    except ValueError:
        raise BadParam(f"{name} must be an integer, got {text!r}") from None
