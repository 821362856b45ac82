"""Code blocks of the guide, with the HTML comment that marks what each one is.

A block may be preceded (on the line right before its fence) by a marker comment such as
`<!-- spec: into resources.sleep.list -->` or `<!-- spec: full; file: vendors/acme.yaml -->`:
`key: value` pairs separated by `;`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"

_FENCE = re.compile(r"^```([A-Za-z0-9_-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    file: str
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    marker: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"docs/{self.file}:{self.line}"


def blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index])
            index += 1
        marker = _parse_marker(lines[start - 1]) if start > 0 else {}
        found.append(Block(path.name, start + 1, match.group(1), "\n".join(body) + "\n", marker))
        index += 1
    return found


def _parse_marker(line: str) -> dict[str, str]:
    match = _MARKER.match(line.strip())
    if not match:
        return {}
    pairs: dict[str, str] = {}
    for part in match.group(1).split(";"):
        key, sep, value = part.partition(":")
        if sep:
            pairs[key.strip()] = value.strip()
    return pairs


def all_blocks(language: str | None = None) -> list[Block]:
    out: list[Block] = []
    for path in sorted(DOCS.glob("*.md")):
        out.extend(b for b in blocks(path) if language is None or b.language == language)
    return out


def file_block(name: str) -> Block:
    """The block marked `file: name` anywhere in the guide."""
    matches = [b for b in all_blocks() if b.marker.get("file") == name]
    assert len(matches) == 1, f"expected one block marked 'file: {name}', found {len(matches)}"
    return matches[0]
