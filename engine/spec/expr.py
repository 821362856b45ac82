"""Compiled JMESPath expressions.

Plain dotted paths become direct key lookups; the common subset (comparisons, ``&&``/``||``/``!``,
literals, the engine's functions) is translated once into a Python function; the rest runs on
the JMESPath interpreter. All three give the interpreter's results.
"""

from __future__ import annotations

import re
from typing import Any

import jmespath
from jmespath import exceptions as jmes_errors

from engine.spec.expr_python import Node, compile_function
from engine.spec.functions import FUNCTION_ARITY, OPTIONS

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

# Builtin JMESPath functions and their arity (None = variadic).
_BUILTIN_ARITY: dict[str, int | None] = {
    "abs": 1, "avg": 1, "ceil": 1, "contains": 2, "ends_with": 2, "floor": 1, "join": 2,
    "keys": 1, "length": 1, "map": 2, "max": 1, "max_by": 2, "merge": None, "min": 1,
    "min_by": 2, "not_null": None, "reverse": 1, "sort": 1, "sort_by": 2, "starts_with": 2,
    "sum": 1, "to_array": 1, "to_number": 1, "to_string": 1, "type": 1, "values": 1,
}

COMPILE_COUNT = 0  # incremented on every compilation; tests assert it stays flat at run time


class ExprError(ValueError):
    """An expression that does not compile or calls an unknown function."""


class Expr:
    """A JMESPath expression compiled once; ``search`` is the only per-record call."""

    __slots__ = ("_fast", "_keys", "_parsed", "text")

    def __init__(self, text: str) -> None:
        global COMPILE_COUNT
        COMPILE_COUNT += 1
        self.text = text
        if _DOTTED.match(text) and text not in ("true", "false", "null"):
            self._keys: tuple[str, ...] | None = tuple(text.split("."))
            self._parsed = None
            self._fast = None
            return
        self._keys = None
        try:
            self._parsed = jmespath.compile(text)
        except jmes_errors.JMESPathError as exc:
            raise ExprError(f"invalid JMESPath {text!r}: {_first_line(exc)}") from None
        _check_functions(self._parsed.parsed, text)
        self._fast = compile_function(self._parsed.parsed)

    @property
    def tree(self) -> Node | None:
        """The parsed JMESPath tree (None for a plain dotted path)."""
        return self._parsed.parsed if self._parsed is not None else None

    @property
    def keys(self) -> tuple[str, ...] | None:
        """The keys of a plain dotted path, else None."""
        return self._keys

    def search(self, data: Any) -> Any:
        keys = self._keys
        if keys is not None:
            for key in keys:
                if not isinstance(data, dict):
                    return None
                data = data.get(key)
            return data
        try:
            fast = self._fast
            if fast is not None:
                return fast(data)
            parsed = self._parsed
            if parsed is None:  # not reached: every expression but a dotted path is parsed
                return None
            return parsed.search(data, options=OPTIONS)
        except jmes_errors.JMESPathError:
            return None

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _check_functions(node: Any, text: str) -> None:
    if isinstance(node, dict):
        if node.get("type") == "function_expression":
            name = node.get("value")
            argc = len(node.get("children", []))
            arity: int | None = -1  # -1: unknown; None: variadic
            if isinstance(name, str):
                arity = FUNCTION_ARITY.get(name, _BUILTIN_ARITY.get(name, -1))
            if arity == -1:
                known = sorted({*FUNCTION_ARITY, *_BUILTIN_ARITY})
                raise ExprError(f"unknown function {name}() in {text!r}; known: {', '.join(known)}")
            if arity is not None and arity != argc:
                raise ExprError(f"{name}() takes {arity} argument(s), got {argc} in {text!r}")
        for child in node.get("children", []):
            _check_functions(child, text)
        for key in ("value",):
            if isinstance(node.get(key), dict):
                _check_functions(node[key], text)
