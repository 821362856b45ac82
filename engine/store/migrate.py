"""Versioned schema migrations: `migrations/NNNN_name.sql`, applied in order, recorded in
`schema_version`. The files hold portable SQL shared by every adapter; a migration that must move
data or differs by store is a Python step (`STEPS`) with a version of its own."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources

from engine.store.sql.dialect import Tx, insert
from engine.store.sql.sample_table import cluster_samples

SCHEMA_VERSION_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at DOUBLE PRECISION NOT NULL)"
)

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...] = ()
    step: Callable[[Tx], Awaitable[None]] | None = None


STEPS = (Migration(10, "samples_clustered", step=cluster_samples),)


def split_statements(sql: str) -> tuple[str, ...]:
    """Split a migration file on `;` at line ends; `--` comment lines are dropped. Migration files
    therefore keep semicolons out of string literals."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    statements = []
    for chunk in "\n".join(lines).split(";"):
        statement = chunk.strip()
        if statement:
            statements.append(statement)
    return tuple(statements)


def load_migrations() -> list[Migration]:
    folder = resources.files("engine.store") / "migrations"
    migrations = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            statements = split_statements(entry.read_text(encoding="utf-8"))
            migrations.append(Migration(int(match.group(1)), match.group(2), statements))
    migrations.extend(STEPS)
    migrations.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions):
        raise RuntimeError("two migrations share a version number")
    return migrations


async def apply_migrations(tx: Tx) -> None:
    """Apply the migrations `schema_version` does not list yet, in the caller's transaction (which
    holds the adapter's migration lock, so concurrent first starts apply each one once)."""
    await tx.count(SCHEMA_VERSION_DDL)
    applied = {row[0] for row in await tx.all("SELECT version FROM schema_version")}
    for migration in load_migrations():
        if migration.version not in applied:
            for statement in migration.statements:
                await tx.count(statement)
            if migration.step is not None:
                await migration.step(tx)
            await tx.count(insert("schema_version", "version, name, applied_at"),
                           (migration.version, migration.name, time.time()))
