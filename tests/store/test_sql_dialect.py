"""The layer the store's SQL is written on: statement helpers, dialects, transaction bodies run to
their end without a loop, and a store made of every concern, none shadowing another."""

from __future__ import annotations

import asyncio

import pytest

from engine.store import port
from engine.store.postgres_db import POSTGRES
from engine.store.sql.dialect import SQLITE, Concern, insert, pyformat, run_to_end, where
from engine.store.sql.store import SqlStore


def test_placeholders_come_from_the_columns_and_translate_for_psycopg() -> None:
    assert insert("t", "a, b, c") == "INSERT INTO t (a, b, c) VALUES (?, ?, ?)"
    assert insert("t", "a, b", 2) == "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
    assert pyformat("SELECT ? || '%' FROM t WHERE a = ?") == "SELECT %s || '%%' FROM t WHERE a = %s"


def test_filters_and_lists_per_dialect() -> None:
    assert where(("a = ?", 1), ("b > ?", None), ("c = ?", "x")) == (
        "WHERE a = ? AND c = ? ", [1, "x"])
    assert where(("a = ?", None)) == ("", [])
    assert SQLITE.any_of("kind", ["x", "y"]) == ("kind IN (?, ?)", ["x", "y"])
    assert POSTGRES.any_of("kind", ("x", "y")) == ("kind = ANY(?)", [["x", "y"]])
    assert (SQLITE.for_update, POSTGRES.for_update) == ("", " FOR UPDATE")


def test_a_body_runs_to_its_end_in_one_step_and_one_that_suspends_is_refused() -> None:
    async def statements() -> int:
        async def statement() -> int:
            return 2

        return await statement() + await statement()

    async def suspends() -> None:
        await asyncio.sleep(0)

    assert run_to_end(statements()) == 4
    with pytest.raises(RuntimeError, match="suspended"):
        run_to_end(suspends())


def test_no_part_of_the_store_shadows_another() -> None:
    """The store is its concern classes mixed together: a name two of them define (a method, a
    helper, a class attribute) would silently resolve to the first in the MRO."""
    parts = [part for part in SqlStore.__mro__ if part not in (Concern, object)]
    assert len(parts) > 10
    seen: dict[str, str] = {}
    for part in parts:
        names = [name for name in vars(part) if not (name.startswith("__") and name.endswith("__"))]
        assert names, part.__name__
        for name in names:
            assert name not in seen, f"{part.__name__}.{name} shadows {seen[name]}.{name}"
            seen[name] = part.__name__
    assert port.Store is SqlStore
