"""Custom JMESPath functions available to every spec expression.

They cover the arithmetic vendors need (a value scaled by a power of ten, sample time = start +
index x interval, sums of optional stage durations) and nothing more. Registered once; the
validator checks names and arities against ``FUNCTION_ARITY``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import jmespath
from jmespath import functions

_Number = (int, float)
_QUARTER_HOUR_S = 900
_MAX_OFFSET_S = 18 * 3600

# "3600s" / "-28800.5s" (protobuf JSON durations) or ISO 8601 "PT2H44M45.5S" / "P1DT2H".
_SECONDS_SUFFIX = re.compile(r"^(-?[0-9]+(?:\.[0-9]+)?)s$")
_ISO_DURATION = re.compile(
    r"^(-)?P(?:([0-9]+(?:\.[0-9]+)?)D)?(?:T(?:([0-9]+(?:\.[0-9]+)?)H)?(?:([0-9]+(?:\.[0-9]+)?)M)?(?:([0-9]+(?:\.[0-9]+)?)S)?)?$"
)


def _num(value: object) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, _Number):
        return None
    return value


def parse_iso(text: str) -> datetime:
    """Parse RFC 3339 / ISO 8601 text, accepting a trailing Z."""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


class EngineFunctions(functions.Functions):
    @functions.signature({"types": []}, {"types": []})
    def _func_scale10(self, value, exponent):
        """value x 10^exponent, or null when either is not a number."""
        v, e = _num(value), _num(exponent)
        if v is None or e is None:
            return None
        return v * (10 ** e) if e >= 0 else v / (10 ** -e)

    @functions.signature({"types": []}, {"types": []})
    def _func_mul(self, a, b):
        x, y = _num(a), _num(b)
        return None if x is None or y is None else x * y

    @functions.signature({"types": []}, {"types": []})
    def _func_div(self, a, b):
        x, y = _num(a), _num(b)
        return None if x is None or y is None or y == 0 else x / y

    @functions.signature({"types": []}, {"types": []})
    def _func_add(self, a, b):
        x, y = _num(a), _num(b)
        return None if x is None or y is None else x + y

    @functions.signature({"types": []}, {"types": []})
    def _func_sub(self, a, b):
        x, y = _num(a), _num(b)
        return None if x is None or y is None else x - y

    @functions.signature({"types": []})
    def _func_sum_present(self, values):
        """Sum of the numbers in an array, ignoring nulls; null when none is a number."""
        if not isinstance(values, list):
            return None
        numbers = [v for v in values if _num(v) is not None]
        return sum(numbers) if numbers else None

    @functions.signature({"types": []}, {"types": []})
    def _func_add_seconds(self, timestamp, seconds):
        """An ISO timestamp moved by a number of seconds, keeping its offset."""
        s = _num(seconds)
        if not isinstance(timestamp, str) or s is None or not math.isfinite(s):
            return None
        try:
            moved = parse_iso(timestamp) + timedelta(seconds=s)
        except (ValueError, OverflowError):
            return None
        if moved.tzinfo is UTC:
            return moved.isoformat().replace("+00:00", "Z")
        return moved.isoformat()

    @functions.signature({"types": []}, {"types": []})
    def _func_date_time(self, date, time):
        """Join a YYYY-MM-DD date and an HH:MM[:SS] time into a local ISO timestamp."""
        if not isinstance(date, str) or not isinstance(time, str):
            return None
        return f"{date}T{time}"

    @functions.signature({"types": []})
    def _func_entries(self, obj):
        """An object's members as [{key, value}] in document order (maps keyed by time offsets)."""
        if not isinstance(obj, dict):
            return None
        return [{"key": k, "value": v} for k, v in obj.items()]

    @functions.signature({"types": []})
    def _func_duration_s(self, text):
        """Seconds in a duration written "3600s" or ISO 8601 ("PT1H30M", "P1DT2H"); null otherwise."""
        if isinstance(text, bool) or not isinstance(text, str):
            return None
        match = _SECONDS_SUFFIX.match(text.strip())
        if match:
            return _whole(float(match.group(1)))
        match = _ISO_DURATION.match(text.strip())
        if not match or text.strip() in ("P", "PT", "-P", "-PT") or text.strip().endswith("T"):
            return None
        sign, days, hours, minutes, seconds = match.groups()
        total = sum(float(part or 0) * scale for part, scale in
                    ((days, 86400), (hours, 3600), (minutes, 60), (seconds, 1)))
        return _whole(-total if sign else total)

    @functions.signature({"types": []}, {"types": []})
    def _func_utc_offset_s(self, local, utc):
        """The UTC offset in seconds of a local time, from the same moment on the UTC clock (a
        device's display time and its system time): the wall-clock difference, whatever offsets
        the two carry, rounded to the quarter hour (a clock set by hand is seconds off); null when
        either is not a time or the difference is no offset (beyond 18 h)."""
        if not isinstance(local, str) or not isinstance(utc, str):
            return None
        try:
            wall, instant = parse_iso(local).replace(tzinfo=None), parse_iso(utc)
        except ValueError:
            return None
        if instant.tzinfo is not None:
            instant = instant.astimezone(UTC)
        seconds = (wall - instant.replace(tzinfo=None)).total_seconds()
        quarters = round(seconds / _QUARTER_HOUR_S)
        return quarters * _QUARTER_HOUR_S if abs(seconds) <= _MAX_OFFSET_S else None

    @functions.signature({"types": []}, {"types": []}, {"types": []})
    def _func_make_date(self, year, month, day):
        """YYYY-MM-DD from numeric year, month and day (a date split into parts); null when invalid."""
        y, m, d = _num(year), _num(month), _num(day)
        if y is None or m is None or d is None:
            return None
        try:
            return datetime(int(y), int(m), int(d)).date().isoformat()
        except ValueError:
            return None


def _whole(value: float) -> float | int:
    return int(value) if value == int(value) else value


FUNCTION_ARITY: dict[str, int] = {
    "scale10": 2,
    "mul": 2,
    "div": 2,
    "add": 2,
    "sub": 2,
    "sum_present": 1,
    "add_seconds": 2,
    "date_time": 2,
    "entries": 1,
    "duration_s": 1,
    "make_date": 3,
    "utc_offset_s": 2,
}

OPTIONS = jmespath.Options(custom_functions=EngineFunctions())
