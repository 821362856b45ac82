"""The webhook intake's user lookup (both adapters) and SQLite's point reads on the caller's thread."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from engine.store import DecryptionError, Store, open_store
from engine.store.sqlite_db import SqliteDatabase

from .conftest import store_url

pytestmark = pytest.mark.anyio


async def test_user_id_by_vendor_user_names_the_connected_app_user(store: Store) -> None:
    await store.upsert_connection("acme", "u1", vendor_user_id="vu1", scopes=["offline"],
                                  access_token="a", refresh_token="r", token_expires_at=1000.0)
    assert await store.get_user_id_by_vendor_user("acme", "vu1") == "u1"
    assert await store.get_user_id_by_vendor_user("acme", "nobody") is None
    assert await store.get_user_id_by_vendor_user("other", "vu1") is None


async def test_user_id_by_vendor_user_decrypts_no_token(
    adapter: str, store: Store, tmp_path: Path
) -> None:
    """Every webhook delivery asks it: it must not pay for (or depend on) the token cipher. A store
    on the same database whose key cannot open the tokens still answers it."""
    await store.upsert_connection("acme", "u1", vendor_user_id="vu1", scopes=[],
                                  access_token="a", refresh_token="r", token_expires_at=None)
    foreign = await open_store(store_url(adapter, tmp_path), tmp_path,
                               secret_keys=["another-secret-" + "x" * 32])
    try:
        with pytest.raises(DecryptionError):
            await foreign.get_connection_by_vendor_user("acme", "vu1")
        assert await foreign.get_user_id_by_vendor_user("acme", "vu1") == "u1"
        assert await foreign.get_user_id_by_vendor_user("acme", "nobody") is None
    finally:
        await foreign.close()


async def _database(tmp_path: Path) -> SqliteDatabase:
    db = SqliteDatabase(tmp_path / "engine.db")
    await db.open()
    await db.write(lambda conn: conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)"))
    await db.write(lambda conn: conn.execute("INSERT INTO t VALUES ('a', 'one')"))
    return db


def _value(conn: sqlite3.Connection) -> tuple[str, str]:
    return conn.execute("SELECT v, ? FROM t WHERE k = 'a'", (threading.current_thread().name,)).fetchone()


async def test_point_read_runs_on_the_callers_thread_and_sees_committed_writes(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    try:
        assert await db.read_point(_value) == ("one", threading.current_thread().name)
        await db.write(lambda conn: conn.execute("UPDATE t SET v = 'two' WHERE k = 'a'"))
        assert (await db.read_point(_value))[0] == "two"
    finally:
        await db.close()


async def test_point_read_in_use_elsewhere_goes_to_the_reader_thread(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    try:
        with db._point_lock:  # another thread's point read is in progress
            value, thread = await db.read_point(_value)
        assert value == "one" and thread.startswith("sqlite-read")
    finally:
        await db.close()


async def test_point_read_that_finds_the_database_busy_retries_on_the_reader_thread(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    caller = threading.current_thread().name

    def busy_here(conn: sqlite3.Connection) -> tuple[str, str]:
        if threading.current_thread().name == caller:  # what a zero busy timeout reports
            raise sqlite3.OperationalError("database is locked")
        return _value(conn)

    try:
        value, thread = await db.read_point(busy_here)
        assert value == "one" and thread.startswith("sqlite-read")
        assert await db.read_point(_value) == ("one", caller)  # the connection is free again
    finally:
        await db.close()
