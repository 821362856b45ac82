"""The composition root: specs, store, outbound HTTP client and OAuth flows in one object.

The HTTP API, the command line and the worker all go through an `Engine`:

    async with Engine.from_env() as engine:
        request = await engine.oauth.authorization_url("vendor-id", "app-user-1")

Applications that embed the engine use `engine.connector("vendor-id")`, which gives every
operation on one vendor (OAuth, webhooks, fetch, backfill, rate limits) with typed errors; see
`engine.python_api.Connector` and docs/python-api.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import httpx2

from engine.auth.flows import OAuth
from engine.auth.return_to import parse_allowlist
from engine.errors import EngineError, VendorNotConfigured, VendorNotFound
from engine.http import create_http_client
from engine.spec.catalogue import SHIPPED_VENDORS_DIR
from engine.spec.errors import SpecError
from engine.spec.loader import load_specs_dir
from engine.spec.model import Spec
from engine.store import open_store
from engine.store.crypto import load_secret_keys
from engine.store.errors import StoreError
from engine.store.port import Store
from engine.subscriptions.per_user import install_user_subscriptions

if TYPE_CHECKING:
    from engine.python_api.connector import Connector

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
CALLBACK_PATH = "/v1/oauth/{vendor}/callback"
WEBHOOK_PATH = "/v1/webhooks/{vendor}"


class ConfigError(EngineError):
    """The engine cannot start as configured (bad spec, unusable store, bad setting)."""

    code = "config_error"
    status = 500


def _split_list(raw: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


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


class Engine:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        specs: Mapping[str, Spec] | None = None,
        store: Store | None = None,
        http: httpx2.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Build from `settings` (default: the environment). `specs`, `store` and `http` may be
        given to share or replace them; whatever the engine opens itself it also closes."""
        self.settings = settings or Settings.from_env()
        self.settings.check()
        self.clock = clock
        self._specs: dict[str, Spec] | None = dict(specs) if specs is not None else None
        self._store = store
        self._http = http
        self._owns_store = store is None
        self._owns_http = http is None
        self._oauth: OAuth | None = None
        self._secret_keys: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Engine:
        """`overrides` are `Settings` fields (e.g. `vendors_dir=`, `only=`); None keeps the env."""
        return cls(Settings.from_env(env, **overrides))

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> Self:
        if self._oauth is not None:
            return self
        if self._specs is None:
            self._specs = load_specs(self.settings.vendors_dir, self.settings.only, self.settings.env)
        try:
            self._secret_keys = load_secret_keys(
                self.settings.env, self.settings.data_dir, allow_generate=self.settings.uses_embedded_store
            )
            if self._store is None:
                self._store = await open_store(
                    self.settings.database_url, self.settings.data_dir,
                    secret_keys=self._secret_keys, env=self.settings.env, clock=self.clock,
                )
        except StoreError as error:
            raise ConfigError(f"cannot open the store: {error}") from None
        if self._http is None:
            self._http = create_http_client()
        self._oauth = OAuth(
            store=self._store,
            http=self._http,
            spec_for=self.configured_spec,
            redirect_uri=self.redirect_uri,
            webhook_url=self.webhook_url,
            state_secrets=self._secret_keys,
            return_to_allowlist=self.settings.return_to_allowlist,
            clock=self.clock,
        )
        install_user_subscriptions(self._oauth, self._http, self.settings.env)
        return self

    async def close(self) -> None:
        self._oauth = None
        if self._http is not None and self._owns_http:
            await self._http.aclose()
            self._http = None
        if self._store is not None and self._owns_store:
            await self._store.close()
            self._store = None

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        return self._oauth is not None

    # ------------------------------------------------------------------ parts

    @property
    def specs(self) -> Mapping[str, Spec]:
        if self._specs is None:
            self._specs = load_specs(self.settings.vendors_dir, self.settings.only, self.settings.env)
        return self._specs

    @property
    def store(self) -> Store:
        return self._require(self._store, "store")

    @property
    def http(self) -> httpx2.AsyncClient:
        return self._require(self._http, "http")

    @property
    def oauth(self) -> OAuth:
        return self._require(self._oauth, "oauth")

    @staticmethod
    def _require(part: Any, name: str) -> Any:
        if part is None:
            raise RuntimeError(f"engine.{name} is used before `await engine.open()` (or `async with`)")
        return part

    # ------------------------------------------------------------------ vendors

    def spec(self, vendor: str) -> Spec:
        spec = self.specs.get(vendor)
        if spec is None:
            raise VendorNotFound(f"no vendor named {vendor[:64]!r} is loaded", vendor=None)
        return spec

    def configured_spec(self, vendor: str) -> Spec:
        """The spec, provided its client credentials are present in the environment."""
        spec = self.spec(vendor)
        if not spec.auth.configured:
            raise VendorNotConfigured(
                f"{spec.id} is not configured: set its client id and secret in the environment",
                vendor=spec.id,
            )
        return spec

    def redirect_uri(self, vendor: str) -> str:
        return self.settings.public_url + CALLBACK_PATH.format(vendor=vendor)

    def webhook_url(self, vendor: str) -> str:
        return self.settings.public_url + WEBHOOK_PATH.format(vendor=vendor)

    def connector(self, vendor: str) -> Connector:
        """Every operation on one vendor for code that embeds the engine (see `Connector`):
        OAuth, webhooks, fetch, backfill and rate-limit status. Raises `VendorNotFound`."""
        from engine.python_api.connector import Connector  # the facade sits above this module

        return Connector(self, vendor)


def load_specs(directory: Path, only: Iterable[str], env: Mapping[str, str]) -> dict[str, Spec]:
    try:
        return load_specs_dir(directory, only=list(only) or None, env=env)
    except SpecError as error:
        raise ConfigError(f"cannot load vendor specs: {_spec_error_text(error)}") from None
    except OSError as error:
        raise ConfigError(f"cannot read the vendors directory {str(directory)!r}: {error.strerror}") from None


def _spec_error_text(error: SpecError, limit: int = 5) -> str:
    lines: Sequence[str] = [
        f"{getattr(issue, 'file', '') or error.path}:{getattr(issue, 'line', 0)}: {issue.message}"
        for issue in error.issues[:limit]
    ]
    more = len(error.issues) - limit
    return "; ".join(lines) + (f" (and {more} more)" if more > 0 else "")
