"""The composition root: specs, store, outbound HTTP client, OAuth flows, job handlers and the
sync service in one object, wired the same way whichever entry point opens it.

The HTTP API, the command line, the worker and embedding applications all go through an `Engine`
(opening it installs the hooks, e.g. a new connection's initial sync):

    async with Engine.from_env() as engine:
        request = await engine.oauth.authorization_url("vendor-id", "app-user-1")

Applications that embed the engine use `engine.connector("vendor-id")`, which gives every
operation on one vendor (OAuth, webhooks, fetch, backfill, rate limits) with typed errors; see
`engine.python_api.Connector` and docs/python-api.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx2

from engine.auth.flows import OAuth
from engine.errors import VendorNotConfigured, VendorNotFound
from engine.http import create_http_client
from engine.ingest.service import IngestService
from engine.logs import add_redactions
from engine.merge.rules import MergeRulesError, rules_from_env
from engine.merge.view import MergedView
from engine.observability.metrics import Metrics
from engine.outbound.config import OutboundConfig, OutboundConfigError
from engine.outbound.service import Outbound
from engine.python_api.connector import Connector
from engine.settings import ConfigError, Settings
from engine.spec.errors import SpecError
from engine.spec.loader import load_specs_dir
from engine.spec.model import Spec
from engine.spec.secrets import spec_secrets
from engine.store import open_store
from engine.store.crypto import load_secret_keys
from engine.store.errors import StoreError
from engine.store.port import Store
from engine.subscriptions.per_user import install_user_subscriptions
from engine.worker.handlers import HANDLERS, queue_initial_syncs
from engine.worker.runner import HandlerRegistry, Worker, WorkerConfig, default_worker_id
from engine.worker.sync import SyncService
from engine.worker.zones import install_zone_tracking

CALLBACK_PATH = "/v1/oauth/{vendor}/callback"
WEBHOOK_PATH = "/v1/webhooks/{vendor}"


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
        self._outbound: Outbound | None = None
        self._merged: MergedView | None = None
        self._secret_keys: tuple[str, ...] = ()
        # Which handler runs each job kind: the engine's own, plus any an application adds.
        self.handlers = HandlerRegistry(HANDLERS)
        self._metrics: Metrics | None = None
        self.sync = SyncService(self)
        self.ingest = IngestService(self)  # on-device sources: ingest tokens and posted batches

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
            metrics=self.metrics,
        )
        try:
            outbound_config = OutboundConfig.from_env(self.settings.env)
        except OutboundConfigError as error:
            raise ConfigError(error.message) from None
        self._outbound = Outbound(self._store, outbound_config, secret_keys=self._secret_keys,
                                  public_url=self.settings.public_url, worker_id=default_worker_id(),
                                  clock=self.clock)
        try:
            self._merged = MergedView(self._store, rules_from_env(self.settings.env))
        except MergeRulesError as error:
            raise ConfigError(f"cannot load the merge rules (ENGINE_MERGE_RULES): {error}") from None
        install_user_subscriptions(self._oauth, self._http, self.settings.env)
        self._oauth.allow_retired = frozenset(
            v.strip() for v in self.settings.env.get("ENGINE_ALLOW_RETIRED", "").split(",") if v.strip())
        install_zone_tracking(self)
        queue_initial_syncs(self)
        self.protect_logs()
        return self

    def protect_logs(self) -> None:
        """Register the secrets of the specs and the settings with the log redaction: the query
        parameters handshakes read, every secret a spec uses, the API key and the token keys.
        Opening the engine does it; call it earlier to cover what is logged before."""
        params: set[str] = set()
        values: set[str] = {self.settings.api_key or "", self.settings.env.get("ENGINE_SECRET_KEY", "")}
        for spec in self.specs.values():
            spec_params, spec_values = spec_secrets(spec, self.settings.env)
            params |= spec_params
            values |= spec_values
        values.discard("")
        add_redactions(query_params=params, values=values)

    async def close(self) -> None:
        self._oauth = None
        self._merged = None
        if self._outbound is not None:
            await self._outbound.close()
            self._outbound = None
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
    def metrics(self) -> Metrics:
        """This engine's metrics, made at first use: by then `engine serve` or `engine worker` has
        chosen whether they are shared with other processes (`multiprocess_mode`)."""
        if self._metrics is None:
            self._metrics = Metrics()
        return self._metrics

    @property
    def store(self) -> Store:
        return self._require(self._store, "store")

    @property
    def http(self) -> httpx2.AsyncClient:
        return self._require(self._http, "http")

    @property
    def oauth(self) -> OAuth:
        return self._require(self._oauth, "oauth")

    @property
    def outbound(self) -> Outbound:
        """Outbound delivery: endpoints, the changes feed's renderer, the delivery loop (which
        `engine serve` and `engine worker` start with `engine.outbound.start()`)."""
        return self._require(self._outbound, "outbound")

    @property
    def merged(self) -> MergedView:
        """The merged view of a user's samples across sources (rules: ENGINE_MERGE_RULES)."""
        return self._require(self._merged, "merged")

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

    def worker(self, config: WorkerConfig | None = None, **options: Any) -> Worker:
        """A job loop over this engine's store and handlers (`Worker` options pass through)."""
        return Worker(self.store, self, registry=self.handlers, config=config, clock=self.clock, **options)

    def connector(self, vendor: str) -> Connector:
        """Every operation on one vendor for code that embeds the engine (see `Connector`):
        OAuth, webhooks, fetch, backfill and rate-limit status. Raises `VendorNotFound`."""
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
