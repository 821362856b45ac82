"""The SQLite adapter: one writer thread with group commit, one reader thread, point reads on
the caller's thread, migrations, owner-only files, and the executor the store's SQL runs on.

The stdlib `sqlite3` module runs on two dedicated threads instead of through aiosqlite: a whole
transaction is one hop to the thread rather than one hop per statement, and the writer commits
every write that queued up while the previous commit was syncing in one transaction. Should one
write of a batch fail, the batch is rolled back and run again with each write in its own SAVEPOINT,
so a failing write rolls back alone; a write operation must therefore be safe to run twice (as on
PostgreSQL, where a contended transaction re-runs). A write's awaitable resolves only after its
COMMIT, so "returned" means "durable".

Cross-process safety comes from SQLite itself: WAL mode, `BEGIN IMMEDIATE` for every write
transaction, and a busy timeout while another process holds the write lock.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import queue
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

from engine.store.crypto import TokenCipher
from engine.store.errors import StoreError, StoreUnavailable
from engine.store.migrate import apply_migrations
from engine.store.sql import dialect
from engine.store.sql.dialect import SQLITE, Body, GroupBody, Params, Row, run_to_end
from engine.store.sql.store import SqlStore

T = TypeVar("T")
Item = TypeVar("Item")
Operation = Callable[[sqlite3.Connection], T]
GroupOperation = Callable[[sqlite3.Connection, list[Item]], list[T]]

_MAX_BATCH = 256
_CHECKPOINT_PAGES = 10_000
_STOP = object()

log = logging.getLogger("engine.store")

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
# The database's companions: SQLite gives each the permissions of the database file it belongs to.
DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def private_mode(path: Path, mode: int) -> bool:
    """Drop the group and other bits of `path` (a file ends at most `mode`, 0600; a directory
    0700); symlinks are not followed. True when the mode changed."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode) or not stat.S_IMODE(info.st_mode) & 0o077:
        return False
    try:
        os.chmod(path, stat.S_IMODE(info.st_mode) & mode)
    except PermissionError as error:  # another user's file: say so, the engine may still use it
        log.warning("cannot make %s owner-only: %s", path, error.strerror)
        return False
    return True


def secure_database_files(path: Path) -> list[Path]:
    """Create the database file 0600 if it does not exist yet (its WAL, SHM and journal files then
    start 0600 too), and tighten the files of an existing one; returns the files tightened."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass
    except OSError:
        return []  # SQLite, opening it next, reports why the file cannot be made
    return _tighten_files(path.parent, (path.name,))


def secure_data_dir(directory: Path, names: tuple[str, ...]) -> list[Path]:
    """Make the data directory 0700 and the engine's files in it (those named `names`, with their
    SQLite companions) 0600; returns what was tightened. A shared directory (sticky bit, like
    /tmp) keeps its mode: it is not the engine's to change."""
    tightened = []
    info = directory.stat()
    if info.st_mode & stat.S_ISVTX:
        log.warning("the data directory %s is a shared directory (sticky bit); its permissions are "
                    "left as they are: give the engine a directory of its own", directory)
    elif private_mode(directory, PRIVATE_DIR_MODE):
        tightened.append(directory)
    return tightened + _tighten_files(directory, names)


def _tighten_files(directory: Path, names: tuple[str, ...]) -> list[Path]:
    candidates = [directory / (name + suffix) for name in names for suffix in DATABASE_SUFFIXES]
    return [path for path in candidates if private_mode(path, PRIVATE_FILE_MODE)]


def log_tightened(paths: list[Path]) -> None:
    if paths:
        log.warning("tightened permissions to owner-only (directories 0700, files 0600): %s",
                    ", ".join(str(p) for p in paths))


def _connect(path: Path, busy_timeout_ms: int, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    # Checkpoint every ~40 MB of WAL instead of every ~4 MB: an index page changed by many
    # commits is copied back to the database once rather than each time (bulk writes 1.3x).
    conn.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_PAGES}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def unavailable(error: sqlite3.Error) -> StoreUnavailable:
    return StoreUnavailable(f"database error: {error}")


class SqliteDatabase:
    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000, synchronous: str = "FULL"):
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._synchronous = synchronous
        self._writes: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: sqlite3.Connection | None = None
        self._writer_thread: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._point_reader: sqlite3.Connection | None = None
        self._point_lock = threading.Lock()
        self._reader_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")
        self._groups: dict[Any, _Group] = {}  # group operation -> its group still taking items
        self._groups_lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        log_tightened(secure_database_files(self.path))
        connect = functools.partial(_connect, self.path, self._busy_timeout_ms, self._synchronous)
        try:
            self._writer = await loop.run_in_executor(None, connect)
            await loop.run_in_executor(None, self._migrate, self._writer)
            self._reader = await loop.run_in_executor(self._reader_pool, connect)
            self._point_reader = await loop.run_in_executor(None, connect)
            self._point_reader.execute("PRAGMA busy_timeout = 0")  # point reads never wait
        except sqlite3.Error as error:
            await self.close()
            raise unavailable(error) from None
        self._writer_thread = threading.Thread(target=self._write_loop, name="sqlite-write",
                                               daemon=True)
        self._writer_thread.start()
        log_tightened(secure_database_files(self.path))  # files another process made meanwhile

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        if self._writer_thread is not None:
            self._writes.put(_STOP)
            await loop.run_in_executor(None, self._writer_thread.join)
        elif self._writer is not None:
            self._writer.close()
        if self._reader is not None:
            await loop.run_in_executor(self._reader_pool, self._reader.close)
        if self._point_reader is not None:
            with self._point_lock:
                self._point_reader.close()
        self._reader_pool.shutdown(wait=True)

    # ------------------------------------------------------------------ operations
    async def write(self, operation: Operation[T]) -> T:
        """Run `operation(conn)` inside a write transaction; resolves after COMMIT."""
        if self._closed:
            raise StoreUnavailable("store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._writes.put((operation, future, loop))
        return await future

    async def write_grouped(self, operation: GroupOperation[Item, T], item: Item) -> T:
        """Write `item` with `operation(conn, items) -> results` (one result per item, in order).
        Items submitted while the previous call of the same operation is queued or running are
        written together by the next call: many small writes of one kind (webhook deliveries)
        become one statement per table instead of one per item, each cutting a trip through the
        interpreter lock on the writer thread. Resolves after COMMIT, like `write`."""
        if self._closed:
            raise StoreUnavailable("store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._groups_lock:
            group = self._groups.get(operation)
            fresh = group is None or group.loop is not loop
            if fresh or group is None:
                group = self._groups[operation] = _Group(loop)
            group.items.append(item)
            group.futures.append(future)
        if fresh:
            taken = group

            def run(conn: sqlite3.Connection) -> list[T]:
                with self._groups_lock:  # no item joins once the group is being written
                    if self._groups.get(operation) is taken:
                        del self._groups[operation]
                return operation(conn, taken.items)

            self._writes.put((run, group, loop))
        return await future

    async def read(self, operation: Operation[T]) -> T:
        """Run `operation(conn)` on the reader connection (sees every committed write)."""
        if self._closed or self._reader is None:
            raise StoreUnavailable("store is closed")
        reader = self._reader

        def run() -> T:
            reader.execute("BEGIN")
            try:
                return operation(reader)
            finally:
                reader.execute("COMMIT")

        try:
            return await asyncio.get_running_loop().run_in_executor(self._reader_pool, run)
        except sqlite3.Error as error:
            raise unavailable(error) from None

    async def read_point(self, operation: Operation[T]) -> T:
        """A single statement reading a few rows by an indexed key, run right here on the caller's
        thread: it takes microseconds, less than the hop to the reader thread and back. It never
        waits: if the connection is in use on another thread or the database is busy, the read
        goes to the reader thread instead."""
        if self._closed or self._point_reader is None:
            raise StoreUnavailable("store is closed")
        if self._point_lock.acquire(blocking=False):
            try:
                return operation(self._point_reader)
            except sqlite3.OperationalError:
                pass  # busy or locked with a zero timeout: let the reader thread wait for it
            except sqlite3.Error as error:
                raise unavailable(error) from None
            finally:
                self._point_lock.release()
        return await self.read(operation)

    # ------------------------------------------------------------------ writer thread
    def _write_loop(self) -> None:
        conn = self._writer
        assert conn is not None
        while True:
            item = self._writes.get()
            if item is _STOP:
                break
            batch = [item]
            stop_after = False
            while len(batch) < _MAX_BATCH:
                try:
                    more = self._writes.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop_after = True
                    break
                batch.append(more)
            self._commit_batch(conn, batch)
            if stop_after:
                break
        # Fail anything that raced in behind the stop marker.
        while True:
            try:
                item = self._writes.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                _resolve_all([(item[1], item[2], StoreUnavailable("store is closed"), True)])
        conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            _resolve_all([(future, loop, unavailable(error), True) for _, future, loop in batch])
            return
        # Optimistic pass: every write of the batch back to back, no savepoints (each statement
        # costs the thread a round trip through the interpreter lock). Should one write fail, the
        # whole transaction rolls back and the batch runs again, each write in its own savepoint.
        outcomes: list[tuple[Any, bool]] = []
        try:
            for operation, _, _ in batch:
                outcomes.append((operation(conn), False))
        except Exception as error:  # noqa: BLE001 - handed to the awaiting caller
            _rollback(conn)
            if len(batch) == 1:
                _, future, loop = batch[0]
                _resolve_all([(future, loop, _as_store_error(error), True)])
                return
            self._commit_isolated(conn, batch)
            return
        self._commit(conn, batch, outcomes)

    def _commit_isolated(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        outcomes: list[tuple[Any, bool]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for operation, _, _ in batch:
                conn.execute("SAVEPOINT op")
                try:
                    result = operation(conn)
                except Exception as error:  # noqa: BLE001 - handed to the awaiting caller
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((_as_store_error(error), True))
                else:
                    conn.execute("RELEASE op")
                    outcomes.append((result, False))
        except sqlite3.Error as error:
            self._fail_batch(conn, batch, error)
            return
        self._commit(conn, batch, outcomes)

    def _commit(self, conn: sqlite3.Connection, batch: list[Any], outcomes: list[tuple[Any, bool]]) -> None:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            self._fail_batch(conn, batch, error)
            return
        _resolve_all([(future, loop, value, failed)
                      for (_, future, loop), (value, failed) in zip(batch, outcomes, strict=True)])

    @staticmethod
    def _fail_batch(conn: sqlite3.Connection, batch: list[Any], error: sqlite3.Error) -> None:
        _rollback(conn)
        _resolve_all([(future, loop, unavailable(error), True) for _, future, loop in batch])

    # ------------------------------------------------------------------ migrations
    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it done
        try:
            run_to_end(apply_migrations(_Tx(conn)))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class _Group:
    """Items waiting for one call of a group operation, and their callers' futures. The writer
    settles it like a future: the call's results go one to each caller, its error to all."""

    __slots__ = ("futures", "items", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: list[Any] = []
        self.futures: list[asyncio.Future[Any]] = []

    def done(self) -> bool:
        return all(future.done() for future in self.futures)

    def set_result(self, results: list[Any]) -> None:
        if len(results) != len(self.futures):
            self.set_exception(StoreError(f"a grouped write gave {len(results)} results for {len(self.futures)} items"))
            return
        for future, result in zip(self.futures, results, strict=True):
            if not future.done():  # a caller that stopped waiting leaves a cancelled future
                future.set_result(result)

    def set_exception(self, error: BaseException) -> None:
        for future in self.futures:
            if not future.done():
                future.set_exception(error)


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def _as_store_error(error: Exception) -> Exception:
    if isinstance(error, sqlite3.IntegrityError):
        return StoreError(f"constraint violated: {error}")
    if isinstance(error, sqlite3.Error):
        return unavailable(error)
    return error


Outcome = tuple["asyncio.Future[Any]", asyncio.AbstractEventLoop, Any, bool]


def _resolve_all(outcomes: list[Outcome]) -> None:
    """Hand a batch's outcomes to their waiters: one wake-up per event loop, not one per write."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[1], []).append(outcome)
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:
            pass  # the caller's loop is gone; nobody is waiting any more


def _settle(outcomes: list[Outcome]) -> None:
    for future, _, value, failed in outcomes:
        if future.done():
            continue
        if failed:
            future.set_exception(value)
        else:
            future.set_result(value)


# ---------------------------------------------------------------------- the executor


class _Tx:
    """A transaction's statements, run at once on the writer thread's connection."""

    __slots__ = ("conn",)
    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.conn.execute(sql, params).fetchall()
        return rows[0] if rows else None

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        return self.conn.execute(sql, params).fetchall()

    async def count(self, sql: str, params: Params = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    async def insert_many(self, table: str, columns: str, rows: list[Row], tail: str = "") -> int:
        return sum(self.conn.execute(dialect.insert(table, columns, len(chunk)) + tail,
                                     list(chain.from_iterable(chunk))).rowcount
                   for chunk in dialect.chunks(rows))


class SqliteExecutor:
    """The concern modules' statements on SQLite: reads on the reader thread (point reads on the
    caller's), writes and transaction bodies on the writer thread, grouped bodies through its
    group commit."""

    dialect = SQLITE

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        self._grouped: dict[Any, GroupOperation[Any, Any]] = {}  # body -> its group operation

    async def read_one(self, sql: str, params: Params = ()) -> Row | None:
        return await self.db.read(lambda conn: conn.execute(sql, params).fetchone())

    async def read_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self.db.read(lambda conn: conn.execute(sql, params).fetchall())

    async def read_point(self, sql: str, params: Params = ()) -> Row | None:
        return await self.db.read_point(lambda conn: conn.execute(sql, params).fetchone())

    async def write(self, sql: str, params: Params = ()) -> int:
        return await self.db.write(lambda conn: conn.execute(sql, params).rowcount)

    async def write_returning(self, sql: str, params: Params = ()) -> list[Row]:
        return await self.db.write(lambda conn: conn.execute(sql, params).fetchall())

    async def transaction(self, body: Body[T]) -> T:
        return await self.db.write(lambda conn: run_to_end(body(_Tx(conn))))

    async def grouped(self, body: GroupBody[Item, T], item: Item) -> T:
        operation = self._grouped.get(body)
        if operation is None:  # one operation per body: the writer groups items by operation

            def operation(conn: sqlite3.Connection, items: list[Any]) -> list[Any]:
                return run_to_end(body(_Tx(conn), items))

            self._grouped[body] = operation
        return await self.db.write_grouped(operation, item)

    async def close(self) -> None:
        await self.db.close()


async def open_sqlite_store(
    path: Path, cipher: TokenCipher, *, clock: Callable[[], float] = time.time,
    busy_timeout_ms: int = 5000, synchronous: str = "FULL",
) -> SqlStore:
    """Open the database file (created owner-only: it holds encrypted tokens and users' health
    data) in its existing directory, and apply pending migrations."""
    db = SqliteDatabase(path, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous)
    await db.open()
    return SqlStore(SqliteExecutor(db), cipher, clock)
