"""`Connector`: every operation on one vendor, for applications that embed the engine.

A thin layer: each method calls the flow the HTTP API and the worker use, so behaviour (state
signing, single-flight refresh, webhook dedupe, budgets, retries) is the same everywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from engine.auth.flows import AuthorizationRequest, Connected, Disconnected
from engine.errors import (
    BadRequest,
    RateLimited,
    Unavailable,
    WebhookError,
    webhook_code_for_status,
)
from engine.fetch.errors import BudgetExhausted
from engine.fetch.windows import as_utc, plan_windows
from engine.mapping.result import MapResult
from engine.python_api.limits import RateLimitStatus, rate_limit_status
from engine.spec.model import Spec, Webhooks
from engine.store.errors import StoreError
from engine.store.port import Connection
from engine.webhooks.body import BodyError, parse_body
from engine.webhooks.events import TooManyEvents, WebhookEvent, extract_events
from engine.webhooks.keys import SecretSource
from engine.webhooks.receive import WebhookReceiver, WebhookRequest
from engine.webhooks.verify import VerificationFailed, verify_delivery
from engine.worker.context import WorkerContext
from engine.worker.sync import SyncPlan

P = ParamSpec("P")
T = TypeVar("T")

@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """What to answer the vendor with: status, JSON body (None: empty) and headers."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def received(self) -> int:
        """Events in the delivery (0 for a handshake)."""
        return int(self.body.get("received", 0)) if isinstance(self.body, dict) else 0

    @property
    def new(self) -> int:
        """Events seen for the first time (replays count 0)."""
        return int(self.body.get("new", 0)) if isinstance(self.body, dict) else 0

    @property
    def jobs(self) -> int:
        """Jobs queued for the worker."""
        return int(self.body.get("jobs", 0)) if isinstance(self.body, dict) else 0


def _engine_errors(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A full rate budget is a rate limit to callers; a store outage is `Unavailable`."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except BudgetExhausted as error:
            raise RateLimited(error.message, code=error.code, vendor=error.vendor,
                              retry_after=error.retry_after) from None
        except StoreError as error:
            raise Unavailable(f"the store is unavailable: {type(error).__name__}",
                              code="store_unavailable", retry_after=5) from None

    return call


class Connector:
    """One vendor of an open `Engine`: `engine.connector("vendor-id")`."""

    def __init__(self, engine: WorkerContext, vendor: str) -> None:
        self._engine = engine
        self._spec = engine.spec(vendor)  # VendorNotFound for an unknown id

    @property
    def vendor(self) -> str:
        return self._spec.id

    @property
    def spec(self) -> Spec:
        return self._spec

    def __repr__(self) -> str:
        return f"Connector({self.vendor!r})"

    # ------------------------------------------------------------------ OAuth

    @_engine_errors
    async def authorization_url(self, user_id: str, *, return_to: str | None = None,
                                tz: str | None = None) -> AuthorizationRequest:
        """Where to send `user_id` to grant access: `.url` (signed single-use state, PKCE when the
        spec asks) and `.expires_at` (epoch seconds). `tz`: the user's IANA time zone, kept for
        the connection when the spec takes a zone from the app."""
        return await self._engine.oauth.authorization_url(self.vendor, user_id, return_to=return_to, tz=tz)

    @_engine_errors
    async def exchange_code(self, code: str, state: str) -> Connected:
        """Finish the authorization the vendor redirected back with (`code`, `state` query
        parameters): state checked, code exchanged, vendor identity read, connection stored.
        Raises `OAuthError` (bad or reused state, refused code) or `VendorApiError`."""
        return await self._engine.oauth.complete(self.vendor, code=code, state=state)

    @_engine_errors
    async def refresh_if_needed(self, user_id: str, *, force: bool = False) -> Connection:
        """The connection with an access token valid for at least two minutes, refreshed first
        when due (once across every process). Raises `TokenError` (code `reauth_required` or
        `not_connected`) or `ConnectionNotFound`."""
        return await self._engine.oauth.fresh_connection(self.vendor, user_id, force=force)

    @_engine_errors
    async def revoke(self, user_id: str) -> Disconnected:
        """Revoke at the vendor (when the spec can) and purge the tokens either way."""
        return await self._engine.oauth.disconnect(self.vendor, user_id)

    @_engine_errors
    async def connection(self, user_id: str) -> Connection | None:
        return await self._engine.store.get_connection(self.vendor, user_id)

    # ------------------------------------------------------------------ webhooks

    @_engine_errors
    async def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        """Return when the delivery is authentic per the spec; raise `WebhookError` (status 401
        for a bad signature or timestamp, 409 when the engine lacks the secret)."""
        webhooks = self._webhooks()
        secrets = SecretSource.for_spec(self._spec, env=self._engine.settings.env,
                                        stored=await self._stored_secrets(self.vendor))
        lowered = {name.lower(): value for name, value in headers.items()}
        try:
            verify_delivery(webhooks.verify, body, lowered, secrets, self._engine.clock())
        except VerificationFailed as failed:
            raise WebhookError(failed.reason, code=webhook_code_for_status(failed.status),
                               status=failed.status, vendor=self.vendor) from None

    def parse_events(self, body: bytes) -> list[WebhookEvent]:
        """The events a delivery carries, read with the spec's extractors (no verification).
        Ids come out as strings, whether the vendor sent numbers or text."""
        webhooks = self._webhooks()
        try:
            return extract_events(self.vendor, webhooks.events, parse_body(body, webhooks.body))
        except (BodyError, TooManyEvents) as bad:
            raise WebhookError(str(bad), code="invalid_webhook", vendor=self.vendor) from None

    @_engine_errors
    async def process_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        method: str = "POST",
        query: Mapping[str, str] | None = None,
    ) -> WebhookOutcome:
        """The whole receive pipeline: handshake or verify → decode → dedupe → enqueue, in one
        store transaction. Returns what to answer the vendor; raises `WebhookError` for a refused
        delivery and `Unavailable` (with `retry_after`) when it could not be stored."""
        self._webhooks()
        receiver = WebhookReceiver(self._engine.specs, self._engine.store, env=self._engine.settings.env,
                                   stored_secrets=self._stored_secrets, clock=self._engine.clock)
        request = WebhookRequest(method=method.upper(), headers={k.lower(): v for k, v in headers.items()},
                                 query=dict(query or {}), body=body)
        answer = await receiver.handle(self.vendor, request)
        if answer.status == 503:
            raise Unavailable("the delivery could not be stored; the vendor should retry",
                              code="store_unavailable", vendor=self.vendor, retry_after=30)
        if answer.status >= 400:
            reason = answer.json.get("error") if isinstance(answer.json, dict) else None
            raise WebhookError(str(reason or "delivery refused"), vendor=self.vendor, status=answer.status,
                               code=webhook_code_for_status(answer.status))
        return WebhookOutcome(answer.status, answer.json, dict(answer.headers or {}))

    def _webhooks(self) -> Webhooks:
        if self._spec.webhooks is None:
            raise WebhookError(f"{self.vendor} declares no webhooks", code="webhook_not_handled",
                               status=404, vendor=self.vendor)
        return self._spec.webhooks

    async def _stored_secrets(self, vendor: str) -> Mapping[str, str]:
        return await self._engine.store.get_app_secrets(vendor)

    # ------------------------------------------------------------------ data

    @_engine_errors
    async def fetch(
        self,
        user_id: str,
        resource: str,
        *,
        id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Any]:
        """Raw vendor records of `resource`: one record by `id`, or every record of
        [`since`, `until`) (until defaults to now) across all windows and pages. Runs under the
        vendor's rate budgets, retries and token refresh; raises `VendorApiError` subclasses,
        `RateLimited` (with `retry_after`) or `TokenError`."""
        service = self._engine.sync
        spec_resource = service.resource(self._spec, resource)
        caller = await service.caller(self._spec, user_id)
        fetcher = service.fetcher(self._spec)
        if id is not None:
            records = await fetcher.get(caller, spec_resource, str(id))
        else:
            if since is None:
                raise BadRequest("give either id= or since= (a timezone-aware datetime)", vendor=self.vendor)
            if spec_resource.list is None:
                raise BadRequest(f"{self.vendor} resource {resource!r} cannot be listed", vendor=self.vendor)
            end = datetime.fromtimestamp(self._engine.clock(), UTC) if until is None else until
            records = []
            for window in plan_windows(_aware(since, "since"), _aware(end, "until"), spec_resource.list.window):
                async for page in fetcher.pages(caller, spec_resource, window):
                    records.extend(page.records)
        await self._engine.store.record_connection_activity(self.vendor, user_id, last_pull_at=self._engine.clock())
        return records

    def map(self, resource: str, records: Sequence[Any], *, user_id: str) -> MapResult:
        """Normalize vendor records to Synheart samples (`.samples`) with the spec's mappings;
        values that do not fit are dropped and reported in `.warnings`."""
        service = self._engine.sync
        service.resource(self._spec, resource)
        return service.mapper(self._spec, resource).map_records(records, user_id)

    @_engine_errors
    async def fetch_samples(
        self,
        user_id: str,
        resource: str,
        *,
        id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """`fetch` followed by `map`: normalized samples, not stored."""
        records = await self.fetch(user_id, resource, id=id, since=since, until=until)
        return self.map(resource, records, user_id=user_id).samples

    @_engine_errors
    async def backfill(
        self,
        user_id: str,
        since: datetime,
        until: datetime | None = None,
        *,
        resources: Sequence[str] | None = None,
    ) -> SyncPlan:
        """Plan and queue a backfill of [since, until) (clipped to what the vendor keeps), one job
        per resource window; a worker stores the samples. `.sync.sync_id` tracks progress
        (`await engine.store.get_sync(id)`)."""
        return await self._engine.sync.plan(
            self.vendor, user_id, since=_aware(since, "since"),
            until=None if until is None else _aware(until, "until"), resources=resources)

    # ------------------------------------------------------------------ limits

    @_engine_errors
    async def rate_limits(self, user_id: str | None = None) -> RateLimitStatus:
        """Use of each spec budget (app budgets, plus per-user ones for `user_id`) and the current
        vendor backoff, as shared by every process on this store."""
        return await rate_limit_status(self._spec, self._engine.store, user_id=user_id, now=self._engine.clock())


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise BadRequest(f"{name} must be a datetime")
    if value.tzinfo is None:
        raise BadRequest(f"{name} must be timezone-aware (e.g. datetime(..., tzinfo=UTC))")
    return as_utc(value)

