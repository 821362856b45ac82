"""``${VAR}`` and ``${VAR:-default}`` interpolation of spec strings from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_BROKEN = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})")


class EnvSyntaxError(ValueError):
    pass


def interpolate(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Return the text with references replaced, and the names that had no value."""
    if "${" not in text:
        return text, []
    if _BROKEN.search(text):
        raise EnvSyntaxError(f"malformed ${{...}} reference in {text!r}; write ${{NAME}} or ${{NAME:-default}}")
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        missing.append(name)
        return ""

    return _REF.sub(replace, text), missing


def references(text: str) -> list[str]:
    return [m.group(1) for m in _REF.finditer(text)]


def is_single_reference(text: str) -> bool:
    """True when the whole value is one ``${VAR}`` reference (how secrets must be written)."""
    return _REF.fullmatch(text.strip()) is not None
