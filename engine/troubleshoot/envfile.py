"""Read a `.env` file: `NAME=value` lines, `#` comments, optional `export ` and quotes."""

from __future__ import annotations

import re
from pathlib import Path

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


class EnvFileError(ValueError):
    pass


def read_env_file(path: str | Path) -> dict[str, str]:
    """The variables of the file, in order. Raises `EnvFileError` naming the bad line (never its
    value, which may be a secret) and `OSError` when the file cannot be read."""
    values: dict[str, str] = {}
    text = Path(path).read_text(encoding="utf-8-sig")
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(stripped)
        if match is None:
            raise EnvFileError(f"{path}:{number}: expected NAME=value")
        name, raw = match.groups()
        values[name] = _value(raw.strip(), f"{path}:{number}")
    return values


def _value(raw: str, where: str) -> str:
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = raw.find(quote, 1)
        if end < 0:
            raise EnvFileError(f"{where}: unterminated {quote} quote")
        inner = raw[1:end]
        return inner.replace("\\n", "\n") if quote == '"' else inner
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()
