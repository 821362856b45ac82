"""Opening stores from URLs, migrations, configuration errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.store import StoreConfigError, open_store, sqlite_path_from_url
from engine.store.migrate import load_migrations, split_statements

from .helpers import TEST_SECRET

pytestmark = pytest.mark.anyio


def test_sqlite_urls(tmp_path: Path) -> None:
    assert sqlite_path_from_url(None, tmp_path) == tmp_path / "engine.db"
    assert sqlite_path_from_url("sqlite://", tmp_path) == tmp_path / "engine.db"
    assert sqlite_path_from_url("sqlite:///data/x.db", tmp_path) == Path("data/x.db")
    assert sqlite_path_from_url("sqlite:////srv/x.db", tmp_path) == Path("/srv/x.db")
    for bad in ("sqlite://host/x.db", "sqlite:///:memory:"):
        with pytest.raises(StoreConfigError):
            sqlite_path_from_url(bad, tmp_path)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u@127.0.0.1/db?pool_size=none", "pool_size"),
        ("mysql://x", "unsupported"),
        ("sqlite:////tmp/x.db?synchronous=sometimes", "synchronous"),
    ],
)
async def test_unsupported_urls_fail_with_a_clear_message(
    url: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(StoreConfigError, match=message):
        await open_store(url, tmp_path, secret_keys=[TEST_SECRET])


async def test_migrations_recorded_once_and_reopen_is_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        store = await open_store(
            f"sqlite:///{tmp_path}/e.db?synchronous=normal", tmp_path, secret_keys=[TEST_SECRET]
        )
        await store.ping()
        await store.close()
    with sqlite3.connect(tmp_path / "e.db") as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version")]
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert versions == [m.version for m in load_migrations()] and versions[0] == 1
    assert journal == "wal"


async def test_closed_store_answers_unavailable(tmp_path: Path) -> None:
    from engine.store import StoreUnavailable

    store = await open_store(None, tmp_path, secret_keys=[TEST_SECRET])
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.ping()
    with pytest.raises(StoreUnavailable):
        await store.set_cursor("a", "b", "c", "d")


def test_statement_splitter_drops_comments() -> None:
    sql = "-- header; with a semicolon\nCREATE TABLE a (x TEXT);\n\nCREATE INDEX i ON a (x);\n"
    assert split_statements(sql) == ("CREATE TABLE a (x TEXT)", "CREATE INDEX i ON a (x)")
