"""Custom JMESPath functions available to every spec expression.

They cover the arithmetic vendors need (Withings' ``value x 10^unit``, sample time = start +
index x interval, sums of optional stage durations) and nothing more. Registered once; the
validator checks names and arities against ``FUNCTION_ARITY``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jmespath
from jmespath import functions

_Number = (int, float)


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
        if not isinstance(timestamp, str) or s is None:
            return None
        try:
            moved = parse_iso(timestamp) + timedelta(seconds=s)
        except ValueError:
            return None
        if moved.tzinfo is timezone.utc:
            return moved.isoformat().replace("+00:00", "Z")
        return moved.isoformat()

    @functions.signature({"types": []}, {"types": []})
    def _func_date_time(self, date, time):
        """Join a YYYY-MM-DD date and an HH:MM[:SS] time into a local ISO timestamp."""
        if not isinstance(date, str) or not isinstance(time, str):
            return None
        return f"{date}T{time}"


FUNCTION_ARITY: dict[str, int] = {
    "scale10": 2,
    "mul": 2,
    "div": 2,
    "add": 2,
    "sub": 2,
    "sum_present": 1,
    "add_seconds": 2,
    "date_time": 2,
}

OPTIONS = jmespath.Options(custom_functions=EngineFunctions())
