"""The signed message of an HMAC scheme, built as raw bytes from the spec's message template.

`{body}` is the request body exactly as received (never decoded and re-encoded), `{header:Name}`
a header value and `{timestamp}` the delivery timestamp. Literal text of the template is UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache

from engine.spec.template import Template

# Private-use characters cannot appear in a spec's template text by accident; they mark where each
# placeholder lands so the rendered text can be split back into literal and placeholder parts.
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARK = re.compile(f"{_OPEN}([0-9]+){_CLOSE}")

MessagePart = bytes | str  # bytes: literal; str: placeholder name


class MessageError(KeyError):
    """A header or the timestamp the message template needs is absent."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"the signed message needs {self.name!r}, which the delivery does not have"


@lru_cache(maxsize=256)
def message_parts(template: Template) -> tuple[MessagePart, ...]:
    names = list(dict.fromkeys(template.names))
    if _OPEN in template.text or _CLOSE in template.text:
        raise ValueError("message template contains reserved characters")
    rendered = template.render({name: f"{_OPEN}{i}{_CLOSE}" for i, name in enumerate(names)})
    parts: list[MessagePart] = []
    pos = 0
    for match in _MARK.finditer(rendered):
        if match.start() > pos:
            parts.append(rendered[pos : match.start()].encode("utf-8"))
        parts.append(names[int(match.group(1))])
        pos = match.end()
    if pos < len(rendered):
        parts.append(rendered[pos:].encode("utf-8"))
    return tuple(parts)


def build_message(
    template: Template, body: bytes, header: Callable[[str], str | None], timestamp: str | None
) -> bytes:
    """Raise `MessageError` when a header or the timestamp the template needs is absent."""
    out = bytearray()
    for part in message_parts(template):
        if isinstance(part, bytes):
            out += part
        elif part == "body":
            out += body
        elif part == "timestamp":
            if timestamp is None:
                raise MessageError("timestamp")
            out += timestamp.encode("ascii")
        elif part.startswith("header:"):
            value = header(part[7:])
            if value is None:
                raise MessageError(part[7:])
            out += value.encode("latin-1")
        else:
            raise MessageError(part)
    return bytes(out)


def header_lookup(headers: Mapping[str, str]) -> Callable[[str], str | None]:
    """Case-insensitive access to headers given with lower-case names."""
    return lambda name: headers.get(name.lower())
