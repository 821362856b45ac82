"""Storage: the async port (`Store`, the union of one class per concern) on its SQLite and
PostgreSQL executors, opened from a URL with `open_store`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from engine.store.crypto import SECRET_KEY_FILE, TokenCipher, load_secret_keys
from engine.store.errors import (
    ConnectionConflict,
    DecryptionError,
    InvalidCursor,
    LockTimeout,
    SecretKeyError,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
)
from engine.store.port import (
    BudgetGrant,
    BudgetRequest,
    BudgetState,
    Connection,
    EnqueueResult,
    InboxEvent,
    Job,
    JobSpec,
    Lease,
    OAuthState,
    RecordResult,
    SamplePage,
    SampleRecord,
    Store,
    StoredSample,
    Sync,
    UpsertResult,
)

DATABASE_URL_ENV = "ENGINE_DATABASE_URL"
DEFAULT_DB_FILE = "engine.db"

__all__ = [
    "BudgetGrant", "BudgetRequest", "BudgetState", "Connection", "ConnectionConflict",
    "DecryptionError", "EnqueueResult", "InboxEvent", "InvalidCursor", "Job", "JobSpec", "Lease",
    "LockTimeout", "OAuthState", "RecordResult", "SamplePage", "SampleRecord", "SecretKeyError",
    "Store", "StoreConfigError", "StoreError", "StoreUnavailable", "StoredSample", "Sync",
    "TokenCipher", "UpsertResult", "open_store", "sqlite_path_from_url",
]  # fmt: skip

_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}


def sqlite_path_from_url(url: str | None, data_dir: Path) -> Path:
    """`None`, `sqlite://` → `<data_dir>/engine.db`; `sqlite:///rel.db` is relative to the working
    directory and `sqlite:////abs/path.db` absolute (the usual SQLAlchemy-style spelling)."""
    if url is None:
        return Path(data_dir) / DEFAULT_DB_FILE
    parts = urlsplit(url)
    if parts.netloc:
        raise StoreConfigError(
            f"unexpected host {parts.netloc!r} in SQLite URL; use sqlite:///relative/file.db "
            "or sqlite:////absolute/file.db"
        )
    raw = unquote(parts.path)
    if raw in ("", "/"):
        return Path(data_dir) / DEFAULT_DB_FILE
    path = Path(raw[1:])
    if raw[1:] == ":memory:":
        raise StoreConfigError("in-memory SQLite is not supported; give a file path")
    return path


async def open_store(
    url: str | None,
    data_dir: Path,
    *,
    secret_keys: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> Store:
    """Open the store named by `url` (usually ENGINE_DATABASE_URL): None or `sqlite:…` → the
    embedded SQLite store; `postgresql://…` → the PostgreSQL store shared by several replicas.

    Token keys come from `secret_keys`, else from ENGINE_SECRET_KEY in `env` (default: the process
    environment); only the SQLite store may generate one into `<data_dir>/secret.key`; with
    PostgreSQL a missing key is a `SecretKeyError` (replicas must share it)."""
    env = os.environ if env is None else env
    scheme = urlsplit(url).scheme.lower() if url else "sqlite"
    if scheme in ("postgres", "postgresql"):
        from engine.store.postgres_db import open_postgres_store, parse_postgres_url

        assert url is not None
        pg_options = parse_postgres_url(url)
        pg_keys = (tuple(secret_keys) if secret_keys is not None
                   else load_secret_keys(env, Path("."), allow_generate=False))
        return await open_postgres_store(pg_options, TokenCipher(pg_keys), clock=clock)
    if scheme != "sqlite":
        raise StoreConfigError(
            f"unsupported {DATABASE_URL_ENV} scheme {scheme!r}; expected sqlite:// or postgresql://"
        )
    from engine.store.sqlite_db import (
        PRIVATE_DIR_MODE,
        log_tightened,
        open_sqlite_store,
        secure_data_dir,
    )

    data_dir = Path(data_dir)
    path = sqlite_path_from_url(url, data_dir)
    options = parse_qs(urlsplit(url).query) if url else {}
    synchronous = _SYNCHRONOUS.get(options.get("synchronous", ["full"])[-1].lower())
    if synchronous is None:
        raise StoreConfigError("SQLite option synchronous must be 'full' or 'normal'")
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        # an existing data directory from before owner-only modes: tightened, and said so
        log_tightened(secure_data_dir(data_dir, (DEFAULT_DB_FILE, SECRET_KEY_FILE)))
    except OSError as error:
        raise StoreConfigError(f"cannot create data directory: {error}") from None
    keys = (tuple(secret_keys) if secret_keys is not None
            else load_secret_keys(env, data_dir, allow_generate=True))
    return await open_sqlite_store(path, TokenCipher(keys), clock=clock, synchronous=synchronous)

