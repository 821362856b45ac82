"""Decode a verified delivery body into a JSON-like document (JSON or form-urlencoded).

`parse_json` is the one bounded JSON reader of the engine's HTTP surface: webhook deliveries
and the API's JSON bodies both go through it. It refuses, as a `BodyError` (a 400 answer), what
would otherwise fail later, away from the request: nesting deeper than `MAX_JSON_DEPTH` (the
encoders and the expression evaluator recurse once per level), numbers that are not finite
(`NaN`, `Infinity`, `-Infinity`, and literals such as `1e999` that overflow to infinity: every JSON
encoder downstream refuses them) and unpaired UTF-16 surrogate escapes (`"\\ud800"`, which no UTF-8
encoder, and so no store, can write).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import parse_qsl

MAX_JSON_DEPTH = 64


class BodyError(ValueError):
    """A body that cannot be decoded; the message is short and safe to answer with."""


def parse_body(body: bytes, kind: Literal["json", "form"]) -> Any:
    if kind == "form":
        return _parse_form(_utf8(body))
    return parse_json(body)


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("body is not UTF-8") from None


def _refuse_constant(name: str) -> Any:
    raise BodyError(f"body holds {name}, which is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise BodyError("body holds a number out of range")
    return value


# Numbers are read at C speed; a body that may hold a number too large for a float is read with
# a check on every float instead (see `_may_overflow`).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_CHECKED_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_refuse_constant)


def _number_classes() -> bytes:
    """A translation table: every digit to "0", "e" and "E" to "e", "+" kept, the rest " "."""
    table = bytearray(b" " * 256)
    table[ord("0"):ord("9") + 1] = b"0" * 10
    table[ord("e")] = table[ord("E")] = ord("e")
    table[ord("+")] = ord("+")
    return bytes(table)


_NUMBER_CLASSES = _number_classes()
_OVERFLOW_HINTS = (b"0e0", b"0e+", b"0" * 309)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_INNERMOST_PAIRS = re.compile(rb"\{\}|\[\]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_json(body: bytes) -> Any:
    """The JSON document `body` holds; `BodyError` for anything else (see the module docstring).

    Each guard starts with a C-speed scan of the bytes, so only a suspect body pays for a walk."""
    text = _utf8(body)
    if not text.strip():
        raise BodyError("body is empty")
    try:
        document = (_CHECKED_DECODER if _may_overflow(body) else _DECODER).decode(text)
    except BodyError:
        raise
    except RecursionError:
        raise BodyError(f"body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # JSONDecodeError, and integers too long to convert
        raise BodyError("body is not valid JSON") from None
    if _may_nest_deeper(body, MAX_JSON_DEPTH) and _deeper_than(document, MAX_JSON_DEPTH):
        raise BodyError(f"body is nested deeper than {MAX_JSON_DEPTH} levels")
    if b"\\u" in body and _SURROGATE_ESCAPE.search(body) and _holds_lone_surrogate(document):
        raise BodyError("body holds an unpaired UTF-16 surrogate escape")
    return document


def _may_overflow(body: bytes) -> bool:
    """Whether a number in `body` may be too large for a float. One without a positive exponent
    (`1e5`, `1E+5`) needs 309 digits before its point to overflow, so a body with neither is
    safe; a string that only looks so costs the checked read, nothing more."""
    classes = body.translate(_NUMBER_CLASSES)
    return any(hint in classes for hint in _OVERFLOW_HINTS)


def _may_nest_deeper(body: bytes, limit: int) -> bool:
    """False when the brackets of `body` nest at most `limit` deep. Brackets inside strings are
    counted too, so True only means the parsed document must be measured."""
    brackets = body.translate(None, _NOT_BRACKETS)
    if len(brackets) <= 2 * limit:
        return False
    for _ in range(limit):
        brackets = _INNERMOST_PAIRS.sub(b"", brackets)
        if not brackets:
            return False
    return True


def _containers(document: Any) -> Iterator[tuple[Any, int]]:
    """(container, depth) for every list and dict of `document`, without recursion."""
    stack = [(document, 1)] if isinstance(document, (dict, list)) else []
    while stack:
        value, depth = stack.pop()
        yield value, depth
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _deeper_than(document: Any, limit: int) -> bool:
    return any(depth > limit for _, depth in _containers(document))


def _holds_lone_surrogate(document: Any) -> bool:
    if isinstance(document, str):
        return _SURROGATE.search(document) is not None
    for value, _ in _containers(document):
        texts = [*value, *value.values()] if isinstance(value, dict) else value
        if any(isinstance(text, str) and _SURROGATE.search(text) for text in texts):
            return True
    return False


def _parse_form(text: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=1000)
    except ValueError:
        raise BodyError("body is not valid form data") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)  # a repeated field keeps its first value
    return fields
