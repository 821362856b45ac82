"""The layer the store's SQL is written on: statement helpers, dialects, transaction bodies run to
their end without a loop, and a store that implements every method of every port interface."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from engine.store import port
from engine.store.postgres_db import POSTGRES
from engine.store.sql.dialect import SQLITE, insert, pyformat, run_to_end, where
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


@pytest.mark.parametrize("interface", [
    port.ConnectionStore, port.OAuthStateStore, port.JobStore, port.BudgetStore,
    port.SampleStore, port.SyncStore, port.AppStateStore, port.Housekeeping,
])  # fmt: skip
def test_the_sql_store_implements_every_method_of_the_port(interface: type) -> None:
    declared = {name for name, member in vars(interface).items()
                if inspect.isfunction(member) and not name.startswith("_")}
    assert declared
    for name in declared:
        implemented = getattr(SqlStore, name)
        assert implemented is not vars(interface)[name], f"{interface.__name__}.{name}"
        assert list(inspect.signature(implemented).parameters) == list(
            inspect.signature(vars(interface)[name]).parameters), name
