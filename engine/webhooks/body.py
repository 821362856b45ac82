"""Decode a verified delivery body into a JSON-like document (JSON or form-urlencoded)."""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import parse_qsl


class BodyError(ValueError):
    """A body that cannot be decoded; the message is short and safe to answer with."""


def parse_body(body: bytes, kind: Literal["json", "form"]) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("body is not UTF-8") from None
    if kind == "form":
        return _parse_form(text)
    if not text.strip():
        raise BodyError("body is empty")
    try:
        return json.loads(text)
    except RecursionError:
        raise BodyError("body is nested too deeply") from None
    except ValueError:  # JSONDecodeError, and integers too long to convert
        raise BodyError("body is not valid JSON") from None


def _parse_form(text: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=1000)
    except ValueError:
        raise BodyError("body is not valid form data") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)  # a repeated field keeps its first value
    return fields
