"""The engine's settings: everything it reads from its environment, with the defaults of a local
run (SQLite under ./.engine, the specs in ./vendors or the packaged ones, loopback URLs)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.auth.return_to import parse_allowlist
from engine.errors import EngineError
from engine.spec.catalogue import SHIPPED_VENDORS_DIR
from engine.spec.compile_base import duration_seconds
from engine.store.crypto import load_secret_keys
from engine.store.errors import StoreError

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


class ConfigError(EngineError):
    """The engine cannot start as configured (bad spec, unusable store, bad setting)."""

    code = "config_error"
    status = 500


def _split_list(raw: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


_OFF = ("0", "false", "no", "off")


def raw_retention(raw: str | None) -> float | None:
    """ENGINE_RAW_RETENTION: a duration (`90d`, `12h`, `3600s`), or unset / `keep` to keep raw
    records for good."""
    text = (raw or "").strip().lower()
    if text in ("", "keep"):
        return None
    try:
        return float(duration_seconds(text))
    except ValueError:
        raise ConfigError(f"ENGINE_RAW_RETENTION must be a duration such as 90d or 'keep', got {raw!r}") from None


def default_vendors_dir() -> Path:
    """`./vendors` when there is one (a project's own specs), else the specs the package ships."""
    local = Path("vendors")
    return local if local.is_dir() else SHIPPED_VENDORS_DIR


@dataclass(frozen=True)
class Settings:
    """Everything the engine reads from its environment, with the defaults of a local run."""

    vendors_dir: Path = field(default_factory=default_vendors_dir)
    only: tuple[str, ...] = ()
    data_dir: Path = Path(".engine")
    database_url: str | None = None
    public_url: str = DEFAULT_PUBLIC_URL
    api_key: str | None = field(default=None, repr=False)
    return_to_allowlist: frozenset[str] = frozenset()
    initial_sync: bool = True  # queue the spec's initial sync for every new connection
    raw_archive: bool = True  # keep every fetched or authenticated record (ENGINE_RAW_ARCHIVE=off)
    raw_retention_s: float | None = None  # prune raw records older than this; None keeps them
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = dict(os.environ if env is None else env)
        settings = cls(
            vendors_dir=Path(env["ENGINE_VENDORS_DIR"]) if env.get("ENGINE_VENDORS_DIR")
            else default_vendors_dir(),
            only=_split_list(env.get("ENGINE_ONLY")),
            data_dir=Path(env.get("ENGINE_DATA_DIR") or ".engine"),
            database_url=env.get("ENGINE_DATABASE_URL") or None,
            public_url=(env.get("ENGINE_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/"),
            api_key=env.get("ENGINE_API_KEY") or None,
            return_to_allowlist=parse_allowlist(env.get("ENGINE_RETURN_TO_ALLOWLIST")),
            initial_sync=env.get("ENGINE_INITIAL_SYNC", "1").strip().lower() not in ("0", "false", "no", "off"),
            raw_archive=env.get("ENGINE_RAW_ARCHIVE", "on").strip().lower() not in _OFF,
            raw_retention_s=raw_retention(env.get("ENGINE_RAW_RETENTION")),
            env=env,
        )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    def check(self) -> None:
        parts = urlsplit(self.public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"ENGINE_PUBLIC_URL must be an absolute http(s) URL, got {self.public_url!r}")
        if not self.uses_embedded_store:  # a shared store needs one key on every replica, up front
            try:
                load_secret_keys(self.env, self.data_dir, allow_generate=False)
            except StoreError as error:
                raise ConfigError(str(error)) from None

    @property
    def uses_embedded_store(self) -> bool:
        return self.database_url is None or urlsplit(self.database_url).scheme.lower() == "sqlite"
