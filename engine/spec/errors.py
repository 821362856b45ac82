"""Problems found in a spec, located by JSON path (the loader turns paths into line:col)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpecIssue:
    json_path: tuple[str | int, ...]
    code: str  # short machine-readable class, e.g. "schema.unknown_key", "expr.invalid"
    message: str
    suggestion: str | None = None


class SpecError(Exception):
    """A spec that cannot be loaded; carries every issue found."""

    def __init__(self, issues: Sequence[SpecIssue], path: str = "<spec>") -> None:
        self.issues = list(issues)
        self.path = path
        super().__init__(f"{path}: {len(issues)} problem(s); first: {issues[0].message}" if issues else path)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` most likely misspells, for a "did you mean" suggestion."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None
