"""What the concern modules' SQL is written in, and the executor interface it runs on.

Statements are written once, with `?` placeholders; the PostgreSQL executor hands psycopg the `%s`
form (`pyformat`), so statements keep `?` and `%` out of string literals. Placeholder lists are
built from column lists and values (`insert`, `marks`), never counted by hand. Where the engines
really differ a `Dialect` says how: the two-value maximum, arrays as parameters, row locks.

A multi-statement transaction is a coroutine taking a `Tx` that awaits nothing but the Tx's
statements. On PostgreSQL it runs on a pooled connection; on SQLite the writer thread runs it to
its end in one step (`run_to_end`): its statements run at once, so it never suspends, and every
write stays one hop to the writer thread, group commit included.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeVar

from engine.store.crypto import TokenCipher

T = TypeVar("T")
Item = TypeVar("Item")
Row = tuple[Any, ...]
Params = Sequence[Any]

MAX_PAGE = 5000
# Rows per multi-row statement. One statement instead of `executemany` is, on SQLite's writer
# thread, one hand-back of the interpreter lock per chunk instead of one per row. (PostgreSQL's
# pipelined `executemany` beats its multi-row statements: see `Tx.insert_many`.)
ROWS_PER_STATEMENT = 256


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    greatest: str  # the larger of two values: MAX(a, b) in SQLite, GREATEST(a, b) in PostgreSQL
    # Several writers at once (PostgreSQL): a transaction locks the rows it will change in key
    # order, writes batches in key order, and a job claim skips rows another worker is claiming.
    row_locks: bool = False
    arrays: bool = False  # `column = ANY(?)` with one list parameter instead of `IN (?, ?, …)`
    # What a concurrent insert of a taken unique key raises (a single writer never sees one).
    unique_violation: type[Exception] | tuple[()] = ()

    @property
    def for_update(self) -> str:
        return " FOR UPDATE" if self.row_locks else ""

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """`column` is one of `values` (not empty), and the parameters that says it with."""
        if self.arrays:
            return f"{column} = ANY(?)", [list(values)]
        return f"{column} IN ({marks(len(values))})", list(values)


SQLITE = Dialect("sqlite", greatest="MAX")


class Tx(Protocol):
    """The statements of one transaction."""

    dialect: Dialect

    async def one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def all(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def count(self, sql: str, params: Params = ()) -> int:
        """Run a statement; the number of rows it changed."""

    async def insert_many(self, table: str, columns: str, rows: list[Row], tail: str = "") -> int:
        """`insert(table, columns) + tail` for every row, the fastest way the engine has (SQLite:
        multi-row statements in chunks; PostgreSQL: one statement per row, pipelined, so rows
        apply one after another); the number of rows changed."""


Body = Callable[[Tx], Coroutine[Any, Any, T]]  # an `async def` taking the transaction
GroupBody = Callable[[Tx, list[Item]], Coroutine[Any, Any, list[T]]]


class Executor(Protocol):
    """One database as the concern modules use it. Single statements run on their own (reads see
    every committed write); `transaction` runs a body as one transaction, re-run whole when the
    database asks for it (PostgreSQL contention, SQLite's batch isolation), so bodies are safe
    to run twice."""

    dialect: Dialect

    async def read_one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def read_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def read_point(self, sql: str, params: Params = ()) -> Row | None:
        """A statement reading a few rows by an indexed key (SQLite: on the caller's thread)."""

    async def write(self, sql: str, params: Params = ()) -> int:
        """One write statement; the number of rows it changed."""

    async def write_returning(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def transaction(self, body: Body[T]) -> T: ...

    async def grouped(self, body: GroupBody[Item, T], item: Item) -> T:
        """`body(tx, items)` gives one result per item. Items that queue up together may be
        written by one call (SQLite's group commit); otherwise each item is a call of its own."""

    async def close(self) -> None: ...


def marks(count: int) -> str:
    return ", ".join("?" * count)


@functools.lru_cache(maxsize=1024)
def insert(table: str, columns: str, rows: int = 1) -> str:
    """`INSERT INTO table (columns) VALUES (?, …), …`: a `?` per column, `rows` rows."""
    row = f"({marks(columns.count(',') + 1)})"
    return f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * rows)}"


def upsert(table: str, columns: str, key: str) -> str:
    """`insert` that, on a conflict over the `key` columns, overwrites every other column."""
    keys = {name.strip() for name in key.split(",")}
    updates = [f"{name} = excluded.{name}" for name in map(str.strip, columns.split(","))
               if name not in keys]
    return f"{insert(table, columns)} ON CONFLICT ({key}) DO UPDATE SET {', '.join(updates)}"


def record_columns(record: type, **renamed: str) -> str:
    """A record's fields as a column list, in field order (`renamed`: field → column)."""
    return ", ".join(renamed.get(f.name, f.name) for f in fields(record))


def decoder(record: Callable[..., T], **convert: Callable[[Any], Any]) -> Callable[[Row], T]:
    """Row (columns in the record's field order) → record, with `convert[field]` applied."""
    steps = [(i, convert[f.name]) for i, f in enumerate(fields(record))  # type: ignore[arg-type]
             if f.name in convert]

    def decode(row: Row) -> T:
        values = list(row)
        for index, convert_one in steps:
            values[index] = convert_one(values[index])
        return record(*values)

    return decode


def chunks(rows: list[T], size: int = ROWS_PER_STATEMENT) -> Iterator[list[T]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def where(*conditions: tuple[str, Any]) -> tuple[str, list[Any]]:
    """`WHERE a = ? AND b > ? ` (trailing space; empty without any) for the `(condition, value)`
    pairs whose value is given, and their parameters."""
    given = [(condition, value) for condition, value in conditions if value is not None]
    clauses = " AND ".join(condition for condition, _ in given)
    return (f"WHERE {clauses} " if given else ""), [value for _, value in given]


@functools.lru_cache(maxsize=4096)
def pyformat(sql: str) -> str:
    """The statement with psycopg's placeholders: `?` → `%s`, a literal `%` doubled."""
    return sql.replace("%", "%%").replace("?", "%s")


def run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    """The value of a coroutine that never suspends (a SQLite transaction body), without a loop."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    coroutine.close()
    raise RuntimeError("a SQLite transaction body suspended: it may only await its statements")


class Concern:
    """Base of the concern classes: the executor their statements run on, the store's clock and
    the cipher sealing the secrets they keep (bound to vendor, user and field)."""

    _ex: Executor
    _clock: Callable[[], float]
    _cipher: TokenCipher

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def _seal(self, value: str | None, vendor: str, user_id: str, field: str) -> str | None:
        if value is None:
            return None
        return self._cipher.encrypt(value, vendor=vendor, user_id=user_id, field=field)

    def _open(self, value: str | None, vendor: str, user_id: str, field: str) -> str | None:
        if value is None:
            return None
        return self._cipher.decrypt(value, vendor=vendor, user_id=user_id, field=field)
