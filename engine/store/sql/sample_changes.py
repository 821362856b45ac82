"""samples.changed: the outbox events a samples write reports, written in the write's own
transaction — one per (user, source, sample type, origin), with the first changed samples inline."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any, TypeVar

from engine.store.codec import from_micros
from engine.store.records import SampleProvenance
from engine.store.sample_document import sample_document
from engine.store.sample_payload import unpack
from engine.store.sql.dialect import ROWS_PER_STATEMENT, Row, Tx, insert
from engine.store.sql.outbox import add_events, event_row
from engine.store.sql.sample_table import LEADING_COLUMNS, PAYLOAD, PROVENANCE_COLUMNS

T = TypeVar("T")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _distinct_chunks(items: list[T], key: Callable[[T], Hashable]) -> Iterator[list[T]]:
    """Chunks of at most ROWS_PER_STATEMENT rows with no key twice in one (PostgreSQL refuses an
    upsert statement touching a row twice; the rows still apply one after another)."""
    chunk: list[T] = []
    keys: set[Hashable] = set()
    for item in items:
        item_key = key(item)
        if len(chunk) >= ROWS_PER_STATEMENT or item_key in keys:
            yield chunk
            chunk, keys = [], set()
        chunk.append(item)
        keys.add(item_key)
    if chunk:
        yield chunk


class _Changes:
    """The changed samples of one (user, source, sample type), as one samples.changed event."""

    __slots__ = ("counts", "end", "samples", "start")

    def __init__(self) -> None:
        self.counts = {"created": 0, "updated": 0, "deleted": 0}
        self.samples: list[dict[str, Any]] = []
        self.start: int | None = None
        self.end: int | None = None

    def add(self, change: str, row: Row, inline: int, provenance: SampleProvenance | None = None,
            document: Any = None) -> None:
        """`row`: the sample's columns in SAMPLE_COLUMNS order, its payload at least; `document`:
        the payload the row was packed from, if the caller has it (then it is not unpacked)."""
        timestamp_us = row[4]
        self.counts[change] += 1
        self.start = timestamp_us if self.start is None else min(self.start, timestamp_us)
        self.end = timestamp_us if self.end is None else max(self.end, timestamp_us)
        if len(self.samples) < inline:
            payload = document if type(document) is dict else unpack(row[PAYLOAD], row)
            sample = sample_document(payload, change == "deleted", provenance)
            self.samples.append({"change": change, "sample": sample})

    def payload(self, user_id: str, source: str, sample_type: str) -> dict[str, Any]:
        assert self.start is not None and self.end is not None
        total = sum(self.counts.values())
        return {
            "user_id": user_id, "source": source, "sample_type": sample_type, **self.counts,
            "samples": self.samples, "samples_omitted": total - len(self.samples),
            # every changed sample has since <= timestamp_utc < until
            "range": {"since": _iso(from_micros(self.start)), "until": _iso(from_micros(self.end + 1))},
        }


def _change_events(groups: dict[tuple[str, str, str, str], _Changes], at: float) -> list[Row]:
    """One event per (user, source, type, origin)."""
    return [event_row("samples.changed", changes.payload(user, source, kind), user_id=user, origin=origin, at=at)
            for (user, source, kind, origin), changes in groups.items()]


# How a sample arrived (its provenance channel) → the origin its change is reported with.
_CHANNEL_ORIGINS = {"backfill": "backfill", "manual_sync": "backfill"}


@functools.lru_cache(maxsize=8)
def _positions(columns: str) -> tuple[int | None, tuple[int, ...] | None]:
    """Where in a row of `columns` its provenance channel is, and its provenance columns."""
    assert columns.startswith(LEADING_COLUMNS)
    names = [name.strip() for name in columns.split(",")]
    channel = names.index("channel") if "channel" in names else None
    if not set(PROVENANCE_COLUMNS) <= set(names):
        return channel, None
    return channel, tuple(names.index(c) for c in PROVENANCE_COLUMNS)


async def upsert_reporting_changes(tx: Tx, columns: str, rows: list[Row], tail: str, *,
                                   origin: str | None, at: float, inline: int,
                                   documents: Sequence[Any] = ()) -> int:
    """`INSERT … tail` of sample rows (in `columns` order, the sample's key first) that also writes
    one samples.changed event per (user, source, type, origin) for the rows that changed. A row
    at its first revision was created; one the upsert moved past it was updated. Without an
    `origin`, each row's comes from its provenance channel (a backfill's or a sync's are
    `backfill`, others `live`). `documents`, when given, are the payloads the rows were packed
    from, in row order: the inline samples are made from them instead of unpacking each row (the
    same document: packing is lossless)."""
    channel, kept = _positions(columns)
    written = 0
    groups: dict[tuple[str, str, str, str], _Changes] = {}
    paired = list(zip(rows, documents or [None] * len(rows), strict=True))
    for chunk in _distinct_chunks(paired, lambda pair: pair[0][0:4]):
        by_key = {row[0:4]: (row, document) for row, document in chunk}
        returned = await tx.all(insert("samples", columns, len(chunk)) + tail
                                + " RETURNING revision, user_id, source, sample_type, dedup_id",
                                list(chain.from_iterable(row for row, _ in chunk)))
        written += len(returned)
        for revision, *key in returned:
            row, document = by_key[tuple(key)]
            change = ("deleted" if row[6] else "created" if revision == 1 else "updated")
            row_origin = origin or (_CHANNEL_ORIGINS.get(row[channel], "live") if channel is not None else "live")
            groups.setdefault((key[0], key[1], key[2], row_origin), _Changes()).add(
                change, row, inline, None if kept is None else SampleProvenance(*(row[i] for i in kept)),
                document)
    await add_events(tx, _change_events(groups, at))
    return written


async def tombstone_reporting_changes(tx: Tx, sql: str, params: Sequence[Any], *, origin: str,
                                      at: float, inline: int) -> int:
    """Run a tombstoning UPDATE of samples and report the samples it marked as deleted."""
    returned = await tx.all(f"{sql} RETURNING {LEADING_COLUMNS}, payload, {', '.join(PROVENANCE_COLUMNS)}",
                            params)
    groups: dict[tuple[str, str, str, str], _Changes] = {}
    for row in returned:
        groups.setdefault((row[0], row[1], row[2], origin), _Changes()).add(
            "deleted", row, inline, SampleProvenance(*row[PAYLOAD + 1:]))
    await add_events(tx, _change_events(groups, at))
    return len(returned)
