"""The PostgreSQL adapter, for several engine replicas and workers: URL options, the connection
pool, transactions with retry, migrations under an advisory lock, and the executor the store's SQL
runs on (job claims with `FOR UPDATE SKIP LOCKED`, rows locked in key order: see `POSTGRES`).

Every operation runs on a pooled connection: a single statement in autocommit, a body as one
transaction. Deadlocks and serialization failures are retried a few times (the whole transaction
re-runs); a database that cannot be reached, or a pool with no free connection within
`pool_timeout`, surfaces as `StoreUnavailable` so callers answer 503 and try again later.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from engine.store.crypto import TokenCipher
from engine.store.errors import StoreConfigError, StoreError, StoreUnavailable
from engine.store.migrate import apply_migrations
from engine.store.sql.dialect import Body, Dialect, GroupBody, Item, Params, Row, insert, pyformat
from engine.store.sql.store import SqlStore

T = TypeVar("T")
Operation = Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]

# Advisory lock id held while migrating, so concurrent first starts apply each migration once.
_MIGRATION_LOCK_ID = 0x656E67696E65  # "engine"
_RETRIES = 6
_TRUST_RECENT_S = 1.0  # a connection returned this recently is handed out without a probe
_RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


@dataclass(frozen=True, slots=True)
class PostgresOptions:
    """Where to connect plus the pool settings read from the URL's engine-only query options."""

    conninfo: str  # the URL without the engine-only options (libpq understands the rest)
    display: str  # host:port/database, for messages (never the password)
    pool_size: int = 10
    pool_timeout_s: float = 5.0
    connect_timeout_s: int = 5


def _positive(options: dict[str, str], name: str, parse: Callable[[str], Any], default: Any) -> Any:
    raw = options.pop(name, None)
    if raw is None:
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = None
    if value is None or value <= 0:
        raise StoreConfigError(f"PostgreSQL option {name} must be a positive number, got {raw!r}")
    return value


def parse_postgres_url(url: str) -> PostgresOptions:
    """`postgresql://user:pass@host:port/db?pool_size=10&pool_timeout=5&connect_timeout=5`; any
    other query option (sslmode, options, …) goes to libpq unchanged."""
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    pool_size = _positive(options, "pool_size", int, 10)
    pool_timeout = _positive(options, "pool_timeout", float, 5.0)
    connect_timeout = _positive(options, "connect_timeout", int, 5)
    options["connect_timeout"] = str(connect_timeout)
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path,
                           urlencode(options, quote_via=quote), parts.fragment))
    try:
        port = parts.port or 5432
    except ValueError:
        raise StoreConfigError("the PostgreSQL URL has an invalid port") from None
    host = parts.hostname or "localhost"
    display = f"{host}:{port}{parts.path or '/'}"
    return PostgresOptions(conninfo, display, pool_size, pool_timeout, connect_timeout)


def _message(error: BaseException) -> str:
    # The first line of libpq's message; it names the host and the problem, never the password.
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class PostgresDatabase:
    def __init__(self, options: PostgresOptions) -> None:
        self.options = options
        self._pool: AsyncConnectionPool | None = None
        self._returned_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        try:
            async with await psycopg.AsyncConnection.connect(self.options.conninfo,
                                                             autocommit=True) as conn:
                await self._migrate(conn)
        except psycopg.Error as error:
            raise StoreUnavailable(
                f"cannot open PostgreSQL at {self.options.display}: {_message(error)}") from None
        self._pool = AsyncConnectionPool(
            self.options.conninfo, kwargs={"autocommit": True}, min_size=1,
            max_size=self.options.pool_size, timeout=self.options.pool_timeout_s,
            # A short reconnect window: after an outage, the next request starts a fresh attempt
            # right away instead of waiting out a long exponential backoff.
            reconnect_timeout=2.0, check=self._check_if_idle, reset=self._note_returned,
            open=False, name="engine-store",
        )
        await self._pool.open(wait=False)

    async def _note_returned(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._returned_at[conn] = time.monotonic()

    async def _check_if_idle(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Probe a connection before handing it out only when it sat idle for a while: a busy
        connection is known good, an idle one may have been cut by a server restart."""
        returned = self._returned_at.get(conn)
        if returned is None or time.monotonic() - returned > _TRUST_RECENT_S:
            await AsyncConnectionPool.check_connection(conn)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            await self._pool.close()

    # ------------------------------------------------------------------ operations
    async def run(self, operation: Operation[T], *, transaction: bool = True) -> T:
        """Run `operation(conn)` on a pooled connection, inside one transaction unless told
        otherwise (single statements run in autocommit). Deadlocks re-run the whole operation."""
        if self._closed or self._pool is None:
            raise StoreUnavailable("store is closed")
        for attempt in range(_RETRIES):
            try:
                async with self._pool.connection() as conn:
                    if not transaction:
                        return await operation(conn)
                    async with conn.transaction():
                        return await operation(conn)
            except _RETRYABLE:
                if attempt == _RETRIES - 1:
                    raise StoreUnavailable("database stayed contended; retry later") from None
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
            except PoolTimeout:
                raise StoreUnavailable(
                    f"no database connection within {self.options.pool_timeout_s:g}s "
                    f"({self.options.display})"
                ) from None
            except pg_errors.IntegrityError as error:
                raise StoreError(f"constraint violated: {_message(error)}") from None
            except pg_errors.DataError as error:
                raise StoreError(f"value rejected by the database: {_message(error)}") from None
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                raise StoreUnavailable(f"database error: {_message(error)}") from None
            except psycopg.Error as error:
                raise StoreError(f"database error: {_message(error)}") from None
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ migrations
    @staticmethod
    async def _migrate(conn: psycopg.AsyncConnection[Any]) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_ID,))
            await apply_migrations(_Tx(conn))


# ---------------------------------------------------------------------- the executor

POSTGRES = Dialect("postgresql", greatest="GREATEST", row_locks=True, arrays=True,
                   unique_violation=pg_errors.UniqueViolation)


class _Tx:
    """Statements on one pooled connection, in psycopg's placeholder style."""

    __slots__ = ("conn",)
    dialect = POSTGRES

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        return await (await self.conn.execute(pyformat(sql), params)).fetchone()

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        return await (await self.conn.execute(pyformat(sql), params)).fetchall()

    async def count(self, sql: str, params: Params = ()) -> int:
        return (await self.conn.execute(pyformat(sql), params)).rowcount

    async def insert_many(self, table: str, columns: str, rows: list[Row], tail: str = "") -> int:
        async with self.conn.cursor() as cursor:
            await cursor.executemany(pyformat(insert(table, columns) + tail), rows)
            return cursor.rowcount


class PostgresExecutor:
    """The concern modules' statements on PostgreSQL: single statements in autocommit, bodies as
    one transaction each (re-run on deadlock or serialization failure), on pooled connections."""

    dialect = POSTGRES

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def read_one(self, sql: str, params: Params = ()) -> Row | None:
        return await self.db.run(lambda conn: _Tx(conn).one(sql, params), transaction=False)

    async def read_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self.db.run(lambda conn: _Tx(conn).all(sql, params), transaction=False)

    read_point = read_one

    async def write(self, sql: str, params: Params = ()) -> int:
        return await self.db.run(lambda conn: _Tx(conn).count(sql, params), transaction=False)

    write_returning = read_all  # a single statement commits on its own, RETURNING or not

    async def transaction(self, body: Body[T]) -> T:
        return await self.db.run(lambda conn: body(_Tx(conn)))

    async def grouped(self, body: GroupBody[Item, T], item: Item) -> T:
        return (await self.transaction(lambda tx: body(tx, [item])))[0]

    async def close(self) -> None:
        await self.db.close()


async def open_postgres_store(
    options: PostgresOptions, cipher: TokenCipher, *, clock: Callable[[], float] = time.time
) -> SqlStore:
    """Connect, apply pending migrations (once, even when replicas start together), open the
    pool. Raises `StoreUnavailable` when the server cannot be reached."""
    db = PostgresDatabase(options)
    await db.open()
    return SqlStore(PostgresExecutor(db), cipher, clock)
