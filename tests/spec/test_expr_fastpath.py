"""The translated fast path of `Expr` gives exactly what the JMESPath interpreter gives."""

from __future__ import annotations

import jmespath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jmespath import exceptions as jmes_errors

from engine.spec.expr import Expr
from engine.spec.functions import OPTIONS
from tests.examples import examples

KEYS = ["a", "b", "c", "null"]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, 1, -1, 2, 0.0, 1.0, 0.5, -2.5]),
    st.sampled_from(["", "x", "SCORED", "0"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=12,
)
documents = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4)

literals = st.sampled_from([
    "'SCORED'", "''", "'x'", "`0`", "`1`", "`2`", "`1.0`", "`0.5`", "`true`", "`false`",
    "`null`", '`"x"`', "`[]`", "`{}`", "`[1]`",
])
paths = st.lists(st.sampled_from(KEYS), min_size=1, max_size=3).map(".".join)


def _expressions() -> st.SearchStrategy[str]:
    atoms = st.one_of(paths, literals, st.just("@"))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), inner)
            .map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda e: f"!({e})"),
            st.lists(inner, min_size=1, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
            st.lists(inner, min_size=1, max_size=3).map(lambda items: f"sum_present([{', '.join(items)}])"),
            st.tuples(st.sampled_from(["add", "mul", "sub", "div", "scale10"]), inner, inner)
            .map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        )

    return st.recursive(atoms, extend, max_leaves=8)


def _outcome(run, data):
    try:
        return "ok", run(data)
    except jmes_errors.JMESPathError:
        return "ok", None
    except Exception as error:  # noqa: BLE001 - the interpreter lets these through; so must the fast path
        return "raised", type(error).__name__


@settings(max_examples=examples(600), deadline=None)
@given(text=_expressions(), data=st.one_of(documents, json_values))
def test_fast_path_matches_the_interpreter(text: str, data: object) -> None:
    expr = Expr(text)
    interpreted = jmespath.compile(text)
    assert _outcome(expr.search, data) == _outcome(lambda d: interpreted.search(d, options=OPTIONS), data)


@pytest.mark.parametrize("text", [
    "score_state == 'SCORED'",
    "score_state == 'SCORED' && score.spo2_percentage != null",
    "a || b",
    "!a",
    "a.b < `3`",
    "sum_present([score.x, score.y])",
    "[a, b.c]",
    "@",
])
def test_common_spec_expressions_take_the_fast_path(text: str) -> None:
    assert Expr(text)._fast is not None


@pytest.mark.parametrize("text", ["a[0]", "a[*].b", "a | b", "length(a)", "{x: a}", "a == `[1]`"])
def test_uncovered_expressions_fall_back_to_the_interpreter(text: str) -> None:
    expr = Expr(text)
    assert expr._fast is None
    data = {"a": [{"b": 1}], "b": 2}
    assert expr.search(data) == jmespath.search(text, data, options=OPTIONS)


def test_null_in_a_comparison_is_a_field_not_a_literal() -> None:
    # JMESPath reads a bare `null` as the key "null": the spec idiom `x != null` depends on it.
    expr = Expr("x != null")
    assert expr.search({"x": 1}) is True
    assert expr.search({"x": 1, "null": 1}) is False
    assert expr.search({}) is False
