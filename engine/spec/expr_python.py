"""Translate the common subset of JMESPath into Python source with identical results.

Covered: fields and dotted paths, ``@``, scalar literals, ``== != < <= > >=``, ``&& || !``,
multi-select lists and calls of the engine's own functions (which accept any argument type, so
the interpreter's type checks have nothing to reject). Anything else returns None and the
expression keeps running on the JMESPath interpreter.

The source is built only from the parsed tree: names and literals are embedded with ``repr``,
so no spec text is ever executed. Each helper below mirrors the interpreter's rule of the same
name (jmespath.visitor), including its number/boolean special cases.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from itertools import count
from numbers import Number
from typing import Any

from engine.spec.functions import FUNCTION_ARITY, OPTIONS

# One node of a parsed JMESPath tree: {"type": ..., "value": ..., "children": [...]}.
Node = Mapping[str, Any]


def _actual_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, Number)


def _eq(x: Any, y: Any) -> bool:
    if x is None or y is None or x.__class__ is str or y.__class__ is str:
        return x == y  # the number/boolean special cases below cannot apply
    if _actual_number(x) and x in (0, 1):
        if isinstance(y, bool):
            return False
    elif _actual_number(y) and y in (0, 1) and isinstance(x, bool):
        return False
    return x == y


def _false(x: Any) -> bool:
    return x == "" or x == [] or x == {} or x is None or x is False


def _not(x: Any) -> bool:
    if _actual_number(x) and x == 0:
        return False
    return not x


def _comparable(x: Any) -> bool:
    return _actual_number(x) or isinstance(x, str)


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool | None]:
    def compare(x: Any, y: Any) -> bool | None:
        if not (_comparable(x) and _comparable(y)):
            return None
        return op(x, y)

    return compare


def _quick_sum_present(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``sum_present`` for a list of plain numbers and nulls; anything else goes to ``original``."""
    def sum_present(values: Any) -> Any:
        if values.__class__ is not list:
            return original(values)
        numbers = []
        for value in values:
            kind = value.__class__
            if kind is int or kind is float:
                numbers.append(value)
            elif value is not None:
                return original(values)
        return sum(numbers) if numbers else None

    return sum_present


HELPERS: dict[str, Any] = {
    "_eq": _eq,
    "_false": _false,
    "_not": _not,
    "_lt": _ordered(operator.lt),
    "_le": _ordered(operator.le),
    "_gt": _ordered(operator.gt),
    "_ge": _ordered(operator.ge),
    "_dict": dict,
    "_isinstance": isinstance,
    **{f"_fn_{name}": getattr(OPTIONS.custom_functions, f"_func_{name}") for name in FUNCTION_ARITY},
}
HELPERS["_fn_sum_present"] = _quick_sum_present(HELPERS["_fn_sum_present"])

_ORDERED = {"lt": "_lt", "lte": "_le", "gt": "_gt", "gte": "_ge"}
_SCALARS = (str, int, float, bool, type(None))


class Unsupported(Exception):
    """The tree uses a construct this translator does not cover."""


class Translator:
    """Turns parsed JMESPath trees into Python expressions over a named input variable.

    Temporaries are walrus-assigned names ``_t<n>``; one translator numbers them uniquely, so
    several translated expressions can share one generated function.
    """

    def __init__(self, known_path: Callable[[str, tuple[str, ...]], str | None] | None = None) -> None:
        self._ids = count()
        # `known_path(value, keys)` may name a variable already holding that dotted path's value.
        self._known_path = known_path

    def translate(self, node: Node, value: str) -> str | None:
        try:
            return self._node(node, value)
        except Unsupported:
            return None

    def _temp(self) -> str:
        return f"_t{next(self._ids)}"

    def _node(self, node: Node, value: str) -> str:
        kind = node["type"]
        children = node.get("children", [])
        if self._known_path is not None and kind in ("field", "subexpression"):
            keys = _field_chain(node)
            known = self._known_path(value, keys) if keys is not None else None
            if known is not None:
                return known
        if kind == "field":
            return self._field(value, node["value"])
        if kind == "subexpression":
            for child in children:
                value = self._node(child, value)
            return value
        if kind in ("current", "identity"):
            return value
        if kind == "literal":
            literal = node["value"]
            if not isinstance(literal, _SCALARS) or (isinstance(literal, float) and not math.isfinite(literal)):
                raise Unsupported(kind)
            return repr(node["value"])
        if kind == "comparator":
            return self._comparator(node["value"], children, value)
        if kind in ("and_expression", "or_expression"):
            temp = self._temp()
            left, right = self._node(children[0], value), self._node(children[1], value)
            falsy = (f"(({temp} := {left}) is None or {temp} is False)" if _gives_bool_or_none(children[0])
                     else f"_false({temp} := {left})")
            if kind == "and_expression":
                return f"({temp} if {falsy} else {right})"
            return f"({right} if {falsy} else {temp})"
        if kind == "not_expression":
            return f"_not({self._node(children[0], value)})"
        if kind == "multi_select_list":
            if value.isidentifier():  # a plain variable: read it directly (and its known paths)
                items = ", ".join(self._node(child, value) for child in children)
                return f"(None if {value} is None else [{items}])"
            temp = self._temp()
            items = ", ".join(self._node(child, temp) for child in children)
            return f"(None if ({temp} := {value}) is None else [{items}])"
        if kind == "function_expression" and node["value"] in FUNCTION_ARITY:
            args = ", ".join(self._node(child, value) for child in children)
            return f"_fn_{node['value']}({args})"
        raise Unsupported(kind)

    def _field(self, value: str, name: str) -> str:
        if value.isidentifier():
            return f"({value}.get({name!r}) if _isinstance({value}, _dict) else None)"
        temp = self._temp()
        return f"({temp}.get({name!r}) if _isinstance({temp} := {value}, _dict) else None)"

    def _comparator(self, op: str, children: list, value: str) -> str:
        left_node, right_node = children
        left, right = self._node(left_node, value), self._node(right_node, value)
        if op in ("eq", "ne"):
            negate = "not " if op == "ne" else ""
            # Against a string literal plain equality is exact: the number/boolean special
            # cases cannot apply.
            if _is_str_literal(left_node) or _is_str_literal(right_node):
                return f"({left} {'!=' if op == 'ne' else '=='} {right})"
            return f"({negate}_eq({left}, {right}))"
        return f"{_ORDERED[op]}({left}, {right})"


def _field_chain(node: Node) -> tuple[str, ...] | None:
    if node["type"] == "field":
        return (node["value"],)
    if node["type"] == "subexpression" and all(c["type"] == "field" for c in node["children"]):
        return tuple(c["value"] for c in node["children"])
    return None


def _gives_bool_or_none(node: Node) -> bool:
    """Whether the translation of ``node`` evaluates to True, False or None only (comparisons
    of JSON values and negations), so that JMESPath falsiness is just ``is None or is False``."""
    return node["type"] in ("comparator", "not_expression")


def _is_str_literal(node: Node) -> bool:
    return node["type"] == "literal" and isinstance(node["value"], str)


def compile_function(tree: Node) -> Callable[[Any], Any] | None:
    """A one-argument function equivalent to searching ``tree``, or None when not covered."""
    source = Translator().translate(tree, "data")
    if source is None:
        return None
    namespace = dict(HELPERS)
    code = compile(f"def _search(data):\n    return {source}\n", "<jmespath>", "exec")
    exec(code, namespace)  # noqa: S102 - source built from the parsed tree only
    return namespace["_search"]
