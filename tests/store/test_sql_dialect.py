"""The layer the store's SQL is written on: statement helpers, dialects, transaction bodies run to
their end without a loop, and a store made of every concern, none shadowing another."""

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


CONCERNS = [port.Connections, port.OAuthStates, port.Jobs, port.Budgets, port.Samples, port.Syncs,
            port.AppState, port.RawArchive, port.Outbox, port.Zones, port.Identities,
            port.IngestTokens, port.MergePriorities]


def _public(concern: type) -> set[str]:
    return {name for name, member in vars(concern).items()
            if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property))}


def test_the_store_is_every_concern_and_no_concern_shadows_another() -> None:
    assert all(issubclass(port.Store, concern) for concern in CONCERNS)
    seen: dict[str, str] = {}
    for concern in CONCERNS:
        assert _public(concern), concern.__name__
        for name in _public(concern):
            assert name not in seen, f"{concern.__name__}.{name} shadows {seen[name]}.{name}"
            seen[name] = concern.__name__
    assert port.Store is SqlStore
