"""The data directory is the owner's alone: the directory 0700, every file in it 0600 (database,
WAL, shared memory, generated key) from the first start on, and a directory left more open by an
earlier version is tightened at start, with a log line saying so."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.engine import Engine, Settings
from engine.store import open_store
from engine.store.crypto import load_secret_keys

from .helpers import TEST_SECRET

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common default, under which new files are 0644 and directories 0755."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes(directory: Path) -> dict[str, int]:
    return {p.name: mode(p) for p in directory.iterdir()}


async def write_something(store) -> None:
    await store.put_app_secret("acme", "signing_key", "s3cr3t-value")
    assert await store.get_app_secrets("acme") == {"signing_key": "s3cr3t-value"}


async def test_a_fresh_data_dir_is_private_from_the_first_start(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    (tmp_path / "vendors").mkdir()
    settings = Settings.from_env({"ENGINE_DATA_DIR": str(data), "ENGINE_VENDORS_DIR": str(tmp_path / "vendors")})
    for _start in range(2):  # and after a restart
        async with Engine(settings) as engine:
            await write_something(engine.store)
            found = modes(data)
            assert {"engine.db", "engine.db-wal", "engine.db-shm", "secret.key"} <= set(found)
            assert found == dict.fromkeys(found, 0o600), found
            assert mode(data) == 0o700


async def test_open_store_alone_makes_the_directory_and_files_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = await open_store(None, data, secret_keys=[TEST_SECRET])
    try:
        await write_something(store)
        found = modes(data)
        assert {"engine.db", "engine.db-wal", "engine.db-shm"} <= set(found)
        assert found == dict.fromkeys(found, 0o600), found
        assert mode(data) == 0o700
    finally:
        await store.close()


async def test_a_database_outside_the_data_dir_is_private_too(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    store = await open_store(f"sqlite:///{elsewhere}/x.db", tmp_path / "data", secret_keys=[TEST_SECRET])
    try:
        await write_something(store)
        found = modes(elsewhere)
        assert {"x.db", "x.db-wal", "x.db-shm"} <= set(found)
        assert found == dict.fromkeys(found, 0o600), found
        assert mode(elsewhere) == 0o700
    finally:
        await store.close()


async def test_an_open_data_dir_is_tightened_at_start_and_says_so(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="engine.store")
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    load_secret_keys({}, data, allow_generate=True)
    os.chmod(data / "secret.key", 0o644)
    os.chmod(data, 0o755)
    # an earlier engine's database, still open elsewhere, so its WAL and SHM files exist (0644)
    other = sqlite3.connect(data / "engine.db", isolation_level=None)
    try:
        other.execute("PRAGMA journal_mode = WAL")
        other.execute("CREATE TABLE leftover (x)")
        other.execute("INSERT INTO leftover VALUES (1)")
        assert modes(data) == {"engine.db": 0o644, "engine.db-wal": 0o644, "engine.db-shm": 0o644,
                               "secret.key": 0o644}
        assert mode(data) == 0o755
        (tmp_path / "vendors").mkdir()
        settings = Settings.from_env({"ENGINE_DATA_DIR": str(data), "ENGINE_VENDORS_DIR": str(tmp_path / "vendors")})
        async with Engine(settings) as engine:
            await write_something(engine.store)
            found = modes(data)
            assert found == dict.fromkeys(found, 0o600), found
            assert mode(data) == 0o700
    finally:
        other.close()
    said = "\n".join(r.getMessage() for r in caplog.records if r.name == "engine.store")
    assert "tightened" in said
    for name in ("engine.db", "engine.db-wal", "engine.db-shm", "secret.key"):
        assert str(data / name) in said, said
    assert str(data) in said


async def test_a_shared_sticky_directory_keeps_its_mode(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="engine.store")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    store = await open_store(None, shared, secret_keys=[TEST_SECRET])
    try:
        await write_something(store)
        assert mode(shared) == 0o1777
        found = modes(shared)
        assert found == dict.fromkeys(found, 0o600), found  # the engine's own files are private
    finally:
        await store.close()
    assert "shared directory" in caplog.text
