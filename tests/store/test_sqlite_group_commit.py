"""SQLite group commit: writes queued together share one transaction, yet a failing write rolls
back alone and each caller gets its own outcome."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from engine.store.errors import StoreError
from engine.store.sqlite_db import SqliteDatabase

pytestmark = pytest.mark.anyio


async def _database(tmp_path: Path) -> SqliteDatabase:
    db = SqliteDatabase(tmp_path / "engine.db")
    await db.open()
    await db.write(lambda conn: conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
    return db


def _insert(key: str):
    return lambda conn: conn.execute("INSERT INTO t VALUES (?)", (key,)).rowcount


def _keys(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT k FROM t ORDER BY k")]


async def test_a_failing_write_among_many_rolls_back_alone(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    try:
        await db.write(_insert("taken"))
        writes = [_insert(f"k{i:02d}") for i in range(20)]
        writes[7] = _insert("taken")  # violates the primary key

        def fails(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES ('half-done')")
            raise ValueError("bad input")

        writes[13] = fails
        outcomes = await asyncio.gather(*(db.write(w) for w in writes), return_exceptions=True)
        assert isinstance(outcomes[7], StoreError) and "constraint" in str(outcomes[7])
        assert isinstance(outcomes[13], ValueError)
        assert [o for i, o in enumerate(outcomes) if i not in (7, 13)] == [1] * 18
        expected = sorted(["taken"] + [f"k{i:02d}" for i in range(20) if i not in (7, 13)])
        assert await db.read(_keys) == expected
    finally:
        await db.close()


async def test_a_lone_failing_write_leaves_nothing_behind(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    try:
        def fails(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES ('half-done')")
            raise ValueError("bad input")

        with pytest.raises(ValueError):
            await db.write(fails)
        assert await db.write(_insert("after")) == 1
        assert await db.read(_keys) == ["after"]
    finally:
        await db.close()


async def test_grouped_writes_share_a_call_and_keep_their_own_results(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    calls: list[int] = []

    def insert_all(conn: sqlite3.Connection, keys: list[str]) -> list[int]:
        calls.append(len(keys))
        conn.executemany("INSERT INTO t VALUES (?)", [(k,) for k in keys])
        return [int(k[1:]) for k in keys]

    try:
        results = await asyncio.gather(*(db.write_grouped(insert_all, f"k{i:02d}") for i in range(40)))
        assert results == list(range(40))  # each caller its own result
        assert sum(calls) == 40 and len(calls) < 40  # items queued together went in one call
        assert await db.read(_keys) == [f"k{i:02d}" for i in range(40)]
    finally:
        await db.close()


async def test_a_failing_group_fails_its_callers_and_a_cancelled_caller_leaves_the_rest(
    tmp_path: Path,
) -> None:
    db = await _database(tmp_path)

    def insert_all(conn: sqlite3.Connection, keys: list[str]) -> list[str]:
        conn.executemany("INSERT INTO t VALUES (?)", [(k,) for k in keys])
        return keys

    try:
        await db.write(_insert("taken"))
        failing = await asyncio.gather(db.write_grouped(insert_all, "new"), db.write_grouped(insert_all, "taken"),
                                       return_exceptions=True)
        assert all(isinstance(outcome, StoreError) for outcome in failing)
        assert await db.read(_keys) == ["taken"]  # the group rolled back as one

        first = asyncio.ensure_future(db.write_grouped(insert_all, "a"))
        second = asyncio.ensure_future(db.write_grouped(insert_all, "b"))
        await asyncio.sleep(0)
        first.cancel()
        assert await second == "b"
        await asyncio.sleep(0.1)
        assert await db.read(_keys) == ["a", "b", "taken"]  # a cancelled wait does not undo a write
    finally:
        await db.close()
