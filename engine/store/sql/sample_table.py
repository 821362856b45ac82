"""The samples table laid out for how it is read: one user's samples of one type over a time
range are neighbours on disk.

SQLite keeps the rows themselves in primary-key order (`WITHOUT ROWID`), so a page of one type is
one range scan; PostgreSQL keeps them in a heap, read through the same key. The key is (user, type,
time, `seq`): `seq` is a 63-bit number a row gets when it is created, in creation order
(`codec.new_seqs`), which only tells apart samples of one type at one instant. Every other index
carries the key, so a short one keeps them small (a dedup id in it made each entry 80 bytes
longer and writes a quarter slower). The dedup key (user, source, type, dedup id) stays unique
for upserts. Three more indexes serve the other reads: every type of a user in time order (a page
over all types), a vendor record's samples (tombstones) and an archived raw record's (re-map),
each led by the user so a pull writes into one user's part of every index.

Text keys compare byte by byte on both stores (`COLLATE "C"` on PostgreSQL), so page order and the
cursor's position agree everywhere.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from engine.store.codec import dump_payload, new_seqs
from engine.store.sample_payload import PACKED, pack
from engine.store.sql.dialect import Dialect, Tx

log = logging.getLogger("engine.store")

# Page order: what a page is sorted by, and what its cursor names.
PAGE_ORDER = "timestamp_us, sample_type, seq"

# A row's identity is its first four columns (KEY); the first ten are what a packed payload is
# unpacked against (engine.store.sample_payload); `seq` comes last (SEQ), set once when the row
# is created (an upsert never changes it); `revision` (1 when created, one more at every update
# an upsert makes) is left to the table's default on insert.
LEADING_COLUMNS = (
    "user_id, source, sample_type, dedup_id, timestamp_us, end_us, deleted, vendor_updated_us, "
    "resource, vendor_record_id"
)
SAMPLE_COLUMNS = (f"{LEADING_COLUMNS}, payload, stored_at, channel, spec_version, mapping_hash, raw_key, raw_id, "
                  "seq")
SEQ = 17
KEY = slice(0, 4)
PAYLOAD = 10
# The sample columns holding its provenance, in `SampleProvenance` order.
PROVENANCE_COLUMNS = ("channel", "spec_version", "mapping_hash", "raw_key", "raw_id")


def table_ddl(dialect: Dialect) -> str:
    text_key = 'TEXT COLLATE "C"' if dialect.name == "postgresql" else "TEXT"
    rowid = " WITHOUT ROWID" if dialect.name == "sqlite" else ""
    return (
        "CREATE TABLE samples ("
        f" user_id {text_key} NOT NULL, sample_type {text_key} NOT NULL,"
        f" timestamp_us BIGINT NOT NULL, seq BIGINT NOT NULL, source {text_key} NOT NULL,"
        f" dedup_id {text_key} NOT NULL,"
        " end_us BIGINT, deleted SMALLINT NOT NULL, vendor_updated_us BIGINT, resource TEXT,"
        " vendor_record_id TEXT, payload TEXT NOT NULL, stored_at DOUBLE PRECISION NOT NULL,"
        " channel TEXT, spec_version INTEGER, mapping_hash TEXT, raw_key TEXT, raw_id TEXT,"
        " revision INTEGER NOT NULL DEFAULT 1,"
        " CONSTRAINT samples_clustered PRIMARY KEY (user_id, sample_type, timestamp_us, seq)"
        f"){rowid}"
    )


def index_ddl() -> list[str]:
    return [
        "CREATE UNIQUE INDEX samples_by_dedup ON samples (user_id, source, sample_type, dedup_id)",
        # With the key's remaining columns after the time: an all-types page reads in page order.
        "CREATE INDEX samples_by_user_time ON samples (user_id, timestamp_us, sample_type, seq)",
        "CREATE INDEX samples_by_vendor_record ON samples (user_id, source, vendor_record_id)",
        "CREATE INDEX samples_by_raw_record ON samples (user_id, raw_key)",
    ]


_KEPT = SAMPLE_COLUMNS.removesuffix(", seq")  # what the first layout has
_OLD_INDEXES = ("samples_by_time", "samples_by_type_time", "samples_by_record", "samples_by_raw")
_COPY_BATCH = 20_000


async def cluster_samples(tx: Tx) -> None:
    """Migration 10: move the samples of the first layout (a random text id as the key, the dedup
    key and three indexes beside it) into the clustered table, in batches, logging progress. It
    runs in the migration's transaction, under the migration lock: other replicas wait for it."""
    for index in _OLD_INDEXES:
        await tx.count(f"DROP INDEX IF EXISTS {index}")
    await tx.count("ALTER TABLE samples RENAME TO samples_before_clustering")
    await tx.count(table_ddl(tx.dialect))
    total_row = await tx.one("SELECT COUNT(*) FROM samples_before_clustering")
    total = int(total_row[0]) if total_row else 0
    moved, after, started = 0, "", time.monotonic()
    while True:
        rows = await tx.all(f"SELECT id, {_KEPT} FROM samples_before_clustering WHERE id > ? "
                            f"ORDER BY id LIMIT {_COPY_BATCH}", (after,))
        if not rows:
            break
        after = rows[-1][0]
        seqs = new_seqs(time.time(), len(rows))
        await tx.insert_many("samples", SAMPLE_COLUMNS,
                             [(*_packed(row[1:]), seq) for row, seq in zip(rows, seqs, strict=True)])
        moved += len(rows)
        log.info("migrating samples to the clustered table",
                 extra={"moved": moved, "total": total, "elapsed_s": round(time.monotonic() - started, 1)})
    await tx.count("DROP TABLE samples_before_clustering")
    for statement in index_ddl():
        await tx.count(statement)


def _packed(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The row with its payload packed, where that gives back its stored text exactly."""
    text = row[PAYLOAD]
    try:
        payload = json.loads(text)
    except ValueError:
        return row
    packed = pack(payload, row)
    if not packed.startswith(PACKED) or dump_payload(payload) != text:
        return row
    return (*row[:PAYLOAD], packed, *row[PAYLOAD + 1:])
