"""Execute a spec's resource requests: budgets before sending, retries, token refresh on 401,
response classification and pagination, one page at a time.

A `Fetcher` serves one vendor spec. Pages are yielded as they arrive and nothing is kept between
them, so memory stays flat however long a backfill runs.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urljoin

import httpx2

from engine.fetch.backoff import retry_delay
from engine.fetch.classify import Outcome, classify
from engine.fetch.errors import (
    AccessRefused,
    HostNotAllowed,
    MalformedResponse,
    ReauthRequired,
    RecordGone,
    TooManyPages,
    VendorRejected,
    VendorUnavailable,
)
from engine.fetch.pagination import PageRequest, Paginator
from engine.fetch.ratelimit import RateGovernor, sleep_unless_stopping
from engine.fetch.windows import TimeWindow, reached_window_end, window_values
from engine.http import RenderError, TemplateValues, build_request, is_api_url, spec_values
from engine.mapping.zones import ZoneHistory
from engine.observability.metrics import Metrics
from engine.spec.model import ListEndpoint, Request, Resource, Spec
from engine.spec.template import Template
from engine.store.port import Store

log = logging.getLogger("engine.fetch")

# The longest a fetch waits in place for a budget or a Retry-After; longer waits end the attempt
# with a retryable error carrying `retry_after`, so the job is rescheduled instead of parked.
MAX_INLINE_WAIT_S = 60.0
GONE_STATUSES = (404, 410)  # the vendor no longer has what was asked for


class TokenSource(Protocol):
    async def __call__(self, *, force_refresh: bool = False) -> str:
        """A usable access token for the connection being fetched; a new one when forced."""


@dataclass(slots=True)
class FetchStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    refreshes: int = 0
    budget_wait_s: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    records: list[Any]
    body: Any
    accepted: bool = False  # the vendor accepted the request and will deliver the data later


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request is made for: the app user, the vendor account and how to get its token."""

    user_id: str
    vendor_user_id: str | None
    token: TokenSource
    zones: ZoneHistory | None = None  # the user's zones, for windows rendered as local time


RequestBuilder = Callable[[Mapping[str, Any]], httpx2.Request]


class Fetcher:
    def __init__(
        self,
        spec: Spec,
        client: httpx2.AsyncClient,
        store: Store,
        *,
        governor: RateGovernor | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        max_inline_wait_s: float = MAX_INLINE_WAIT_S,
        metrics: Metrics | None = None,
    ) -> None:
        self.spec = spec
        self.client = client
        self.sleep = sleep
        self.rand = rand
        self.max_inline_wait_s = max_inline_wait_s
        self.governor = governor or RateGovernor(spec, store, sleep=sleep)
        self.stats = FetchStats()
        self.metrics = metrics

    # ------------------------------------------------------------------ public

    async def pages(
        self, caller: Caller, resource: Resource, window: TimeWindow | None, *, changes: bool = False
    ) -> AsyncIterator[Page]:
        """Every page of the resource's list endpoint (or, with `changes`, its listing by when the
        vendor received the records) for one window, in order."""
        endpoint = resource.changes if changes else resource.list
        if endpoint is None:
            what = "changes" if changes else "list"
            raise VendorRejected(f"resource {resource.name!r} has no {what} endpoint", vendor=self.spec.id)
        extra = window_values(window, endpoint.window, caller.zones) if window is not None else {}
        paginator = Paginator(endpoint.paginate)
        page: PageRequest | None = paginator.first()
        ok = (endpoint.accepted_status,) if endpoint.accepted_status else ()
        while page is not None:
            if page.number > endpoint.paginate.max_pages:
                raise TooManyPages(
                    f"{resource.name}: more than {endpoint.paginate.max_pages} pages; stopped",
                    vendor=self.spec.id,
                )
            builder = self._builder(caller, endpoint.request, extra, page.params, page.url)
            outcome, headers = await self._send(caller, builder, ok)
            if endpoint.accepted_status and outcome.status == endpoint.accepted_status:
                yield Page(page.number, [], outcome.body, accepted=True)
                return  # the vendor will push this data later
            records = self._records(resource, endpoint, outcome.body)
            yield Page(page.number, records, outcome.body)
            if window is not None and reached_window_end(records, window, endpoint.window):
                return
            page = paginator.next(page, outcome.body, headers, records)

    async def get(self, caller: Caller, resource: Resource, object_id: str) -> list[Any]:
        """The record(s) a get-by-id returns (resolving the id through `id_from` first). Raises
        `RecordGone` when the vendor answers 404 or 410: the object was deleted."""
        endpoint = resource.get
        if endpoint is None:
            raise VendorRejected(f"resource {resource.name!r} has no get endpoint", vendor=self.spec.id)
        if endpoint.id_from is not None:
            lookup = self._builder(caller, endpoint.id_from.request, {"id": object_id})
            outcome, _ = await self._send(caller, lookup, ())
            resolved = endpoint.id_from.path.search(outcome.body)
            if resolved in (None, "") or isinstance(resolved, (dict, list, bool)):
                raise MalformedResponse(
                    f"{resource.name}: id lookup for {object_id!r} gave no {endpoint.id_from.path.text!r}",
                    vendor=self.spec.id,
                )
            object_id = str(resolved)
        outcome, _ = await self._send(caller, self._builder(caller, endpoint.request, {"id": object_id}), ())
        return self._single(resource, outcome.body)

    async def get_url(self, caller: Caller, resource: Resource, url: str) -> list[Any]:
        """Records behind a URL a webhook handed us; only the spec's API hosts are allowed."""
        request = resource.get.request if resource.get is not None else None
        if request is None and resource.list is not None:
            request = resource.list.request
        if request is None:
            raise VendorRejected(f"resource {resource.name!r} has no endpoint", vendor=self.spec.id)
        builder = self._builder(caller, request, {}, {}, url)
        outcome, _ = await self._send(caller, builder, ())
        body = outcome.body
        if resource.list is not None:
            records = resource.list.records.search(body)
            if isinstance(records, list):
                return records
        return self._single(resource, body)

    async def call(self, caller: Caller, request: Request) -> Any:
        """One request made with the user's token (retried, budgeted, refreshed on 401 like any
        fetch); the answer's body."""
        outcome, _ = await self._send(caller, self._builder(caller, request, {}), ())
        return outcome.body

    # ------------------------------------------------------------------ requests

    def _builder(
        self,
        caller: Caller,
        request: Request,
        values: Mapping[str, Any],
        params: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> RequestBuilder:
        base = spec_values(self.spec, user_id=caller.user_id, vendor_user_id=caller.vendor_user_id)
        base.update(values)
        if url is not None:
            url = urljoin(self.spec.api.base_url + "/", url)
            if not is_api_url(self.spec, url):
                raise HostNotAllowed(
                    f"refusing to fetch {url.split('?')[0]!r}: not one of this spec's API hosts",
                    vendor=self.spec.id,
                )
            # A complete URL from the vendor: keep the request's headers and auth, not its path
            # or query templates.
            literal = Template(url.replace("{", "{{").replace("}", "}}"))
            request = replace(request, path=None, url=literal, params=())

        def build(token_values: Mapping[str, Any]) -> httpx2.Request:
            try:
                return build_request(self.client, self.spec, request, TemplateValues({**base, **token_values}),
                                     extra_params=params)
            except RenderError as error:
                raise VendorRejected(str(error), vendor=self.spec.id) from None

        return build

    async def _send(
        self, caller: Caller, build: RequestBuilder, ok_statuses: tuple[int, ...]
    ) -> tuple[Outcome, httpx2.Headers]:
        retry = self.spec.limits.retry
        token = await caller.token()
        refreshed = False
        failures = 0
        while True:
            await self._acquire(caller)
            request = build({"access_token": token})
            outcome, headers, block_s = await self._exchange(caller, request, ok_statuses)
            if outcome.kind == "ok":
                return outcome, headers
            if outcome.kind == "unauthorized":
                if refreshed:
                    raise ReauthRequired(
                        f"{self.spec.id} still refuses the token after a refresh: {outcome.message}",
                        vendor=self.spec.id,
                    )
                refreshed = True
                self.stats.refreshes += 1
                token = await caller.token(force_refresh=True)
                continue
            if outcome.kind == "rejected":
                rejected = (RecordGone if outcome.status in GONE_STATUSES
                            else AccessRefused if outcome.status == 403 else VendorRejected)
                raise rejected(
                    f"{self.spec.id} answered HTTP {outcome.status}: {outcome.message}",
                    vendor=self.spec.id,
                )
            failures += 1
            if outcome.kind == "rate_limited":
                self.stats.rate_limited += 1
                if self.metrics is not None:
                    self.metrics.vendor_rate_limited(self.spec.id)
            error_type = MalformedResponse if outcome.kind == "malformed" else VendorUnavailable
            what = f"{self.spec.id}: {outcome.message}" + (f" (HTTP {outcome.status})" if outcome.status else "")
            if failures >= retry.max_attempts:
                raise error_type(f"{what}; gave up after {failures} attempts", vendor=self.spec.id,
                                 retry_after=block_s)
            delay = retry_delay(failures - 1, retry.base_s, retry.cap_s, block_s, self.rand)
            if delay > self.max_inline_wait_s:
                raise error_type(f"{what}; vendor asks to wait {delay:.0f}s", vendor=self.spec.id,
                                 retry_after=delay)
            self.stats.retries += 1
            log.info("fetch retry", extra={"vendor": self.spec.id, "user": caller.user_id,
                                           "status": outcome.status, "reason": outcome.message,
                                           "attempt": failures, "delay_s": round(delay, 3)})
            # A Retry-After is already enforced by the budget rows; a worker that stops meanwhile
            # hands the job back rather than sit out the pause.
            if block_s is None and not await sleep_unless_stopping(self.sleep, delay):
                raise error_type(f"{what}; stopping during the retry pause", vendor=self.spec.id,
                                 retry_after=delay)

    async def _acquire(self, caller: Caller) -> None:
        waited = await self.governor.acquire(caller.user_id, max_wait_s=self.max_inline_wait_s)
        self.stats.budget_wait_s += waited
        if self.metrics is not None:
            self.metrics.budget_waited(self.spec.id, waited)

    async def _exchange(
        self, caller: Caller, request: httpx2.Request, ok_statuses: tuple[int, ...]
    ) -> tuple[Outcome, httpx2.Headers, float | None]:
        self.stats.requests += 1
        try:
            response = await self.client.send(request)
            try:
                raw = await response.aread()
            finally:
                await response.aclose()
        except httpx2.TimeoutException:
            if self.metrics is not None:
                self.metrics.vendor_answered(self.spec.id, 0)
            return Outcome("retry", 0, message="timed out"), httpx2.Headers(), None
        except httpx2.TransportError as error:
            if self.metrics is not None:
                self.metrics.vendor_answered(self.spec.id, 0)
            return Outcome("retry", 0, message=f"network error ({type(error).__name__})"), httpx2.Headers(), None
        status = response.status_code
        self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
        if self.metrics is not None:
            self.metrics.vendor_answered(self.spec.id, status)
        block_s = await self.governor.feedback(response.headers, status, caller.user_id)
        return classify(status, raw, self.spec.limits, ok_statuses=ok_statuses), response.headers, block_s

    # ------------------------------------------------------------------ bodies

    def _records(self, resource: Resource, endpoint: ListEndpoint, body: Any) -> list[Any]:
        if body is None:
            return []
        records = endpoint.records.search(body)
        if records is None:
            return []
        if not isinstance(records, list):
            raise MalformedResponse(
                f"{resource.name}: {endpoint.records.text!r} is not an array in the response",
                vendor=self.spec.id,
            )
        return records

    def _single(self, resource: Resource, body: Any) -> list[Any]:
        record = body
        if resource.get is not None and resource.get.record is not None:
            record = resource.get.record.search(body)
        if record is None:
            return []
        if isinstance(record, list):
            return [r for r in record if isinstance(r, dict)]
        if not isinstance(record, dict):
            raise MalformedResponse(f"{resource.name}: expected a JSON object", vendor=self.spec.id)
        return [record]

