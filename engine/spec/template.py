"""The one string template dialect of the spec language: ``{name}`` placeholders.

``{{`` and ``}}`` stand for literal braces. Names are dotted identifiers (``window.start``) or a
prefix and an argument (``header:X-Signature``, ``env:NAME``, ``secret:NAME``). Templates are
compiled once at load; rendering is a join over precomputed parts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_NAME = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*|(?:header|env|secret):[A-Za-z0-9_.\-]+)$")


class TemplateError(ValueError):
    """A template that does not parse, or a placeholder with no value at render time."""


class Template:
    __slots__ = ("_parts", "names", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        parts: list[tuple[bool, str]] = []  # (is_placeholder, literal-or-name)
        literal: list[str] = []
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if ch == "{":
                if text.startswith("{{", i):
                    literal.append("{")
                    i += 2
                    continue
                end = text.find("}", i)
                if end == -1:
                    raise TemplateError(f"unclosed '{{' at offset {i} in {text!r}")
                name = text[i + 1 : end].strip()
                if not _NAME.match(name):
                    raise TemplateError(f"bad placeholder {{{name}}} in {text!r}")
                if literal:
                    parts.append((False, "".join(literal)))
                    literal = []
                parts.append((True, name))
                i = end + 1
            elif ch == "}":
                if text.startswith("}}", i):
                    literal.append("}")
                    i += 2
                    continue
                raise TemplateError(f"single '}}' at offset {i} in {text!r}; write '}}}}'")
            else:
                literal.append(ch)
                i += 1
        if literal:
            parts.append((False, "".join(literal)))
        self._parts = tuple(parts)
        self.names = tuple(name for is_name, name in parts if is_name)

    def render(self, values: Mapping[str, Any]) -> str:
        out: list[str] = []
        for is_name, item in self._parts:
            if not is_name:
                out.append(item)
                continue
            try:
                value = values[item]
            except KeyError:
                raise TemplateError(f"no value for {{{item}}}") from None
            out.append("" if value is None else str(value))
        return "".join(out)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"
