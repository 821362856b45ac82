"""Decode a verified delivery body into a JSON-like document (JSON or form-urlencoded).

`parse_json_text` is the one bounded JSON reader of the engine's HTTP surface: webhook deliveries
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
from typing import Any, Literal
from urllib.parse import parse_qsl

MAX_JSON_DEPTH = 64


class BodyError(ValueError):
    """A body that cannot be decoded; the message is short and safe to answer with."""


def parse_body(body: bytes, kind: Literal["json", "form"]) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("body is not UTF-8") from None
    if kind == "form":
        return _parse_form(text)
    return parse_json_text(text)


def _refuse_constant(name: str) -> Any:
    raise BodyError(f"body holds {name}, which is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise BodyError("body holds a number out of range")
    return value


_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_refuse_constant)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_json_text(text: str) -> Any:
    """The JSON document `text` holds; `BodyError` for anything else (see the module docstring)."""
    if not text.strip():
        raise BodyError("body is empty")
    try:
        document = _DECODER.decode(text)
    except BodyError:
        raise
    except RecursionError:
        raise BodyError(f"body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # JSONDecodeError, and integers too long to convert
        raise BodyError("body is not valid JSON") from None
    # Each test below is a C-speed scan of the text that only a suspect body gets past.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _deeper_than(document, MAX_JSON_DEPTH):
        raise BodyError(f"body is nested deeper than {MAX_JSON_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(text) and _holds_lone_surrogate(document):
        raise BodyError("body holds an unpaired UTF-16 surrogate escape")
    return document


def _containers(document: Any):
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
