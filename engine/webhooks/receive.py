"""The receive pipeline, independent of the web framework: request in, answer out.

Order matters: size cap (done while reading, by the route) → handshake → verify over the raw bytes
→ decode → extract → route → inbox rows, their jobs and the connections' last_webhook_at in ONE
store transaction → 2xx. Anything the store cannot write is answered 503, so the vendor delivers
again later.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from engine.errors import webhook_code_for_status
from engine.jobs import PRIORITY_LIVE, JobKind, WebhookEventJob
from engine.observability.metrics import Metrics
from engine.spec.model import AckAnswer, Spec, VerifyBodyEquals
from engine.store.errors import StoreError
from engine.store.port import InboxEvent, JobSpec, Store
from engine.webhooks.body import BodyError, parse_body
from engine.webhooks.events import TooManyEvents, WebhookEvent, extract_events
from engine.webhooks.handshake import (
    Answer,
    get_handshake,
    has_post_handshake,
    head_handshake,
    post_handshake,
)
from engine.webhooks.keys import SecretSource, uses_stored_secrets
from engine.webhooks.routing import route_event
from engine.webhooks.verify import VerificationFailed, verify_delivery, without_body_field

log = logging.getLogger("engine.webhooks")

DEFAULT_MAX_BODY_BYTES = 262144
# A connection's last_webhook_at is rewritten at most this often by one receiver: under a burst of
# deliveries for one user it would otherwise be one more row update per delivery.
ACTIVITY_RESOLUTION_S = 1.0
# How long a receiver trusts a vendor user -> app user lookup. Only found users are remembered (a
# user who connects a second before the first delivery is seen at once); a connection removed
# meanwhile gets at most this long of deliveries whose jobs then find no connection.
KNOWN_USER_S = 1.0
StoredSecrets = Callable[[str], Awaitable[Mapping[str, str]]]  # vendor -> {NAME: value}


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    method: str
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class WebhookReceiver:
    specs: Mapping[str, Spec]
    store: Store
    env: Mapping[str, str] | None = None
    stored_secrets: StoredSecrets | None = None
    clock: Callable[[], float] = time.time
    job_max_attempts: int | None = None
    metrics: Metrics | None = None
    _stored_secret_use: dict[str, tuple[Spec, bool]] = field(default_factory=dict, init=False, repr=False)
    _activity_stamped: dict[tuple[str, str], float] = field(default_factory=dict, init=False, repr=False)
    _known_users: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict, init=False, repr=False)
    _fixed_secrets: dict[str, tuple[Spec, SecretSource]] = field(default_factory=dict, init=False, repr=False)

    def body_limit(self, vendor: str) -> int:
        spec = self.specs.get(vendor)
        if spec is None or spec.webhooks is None:
            return DEFAULT_MAX_BODY_BYTES
        return spec.webhooks.max_body_bytes

    async def handle(self, vendor: str, request: WebhookRequest) -> Answer:
        answer = await self._answer(vendor, request)
        if self.metrics is not None:  # an unknown vendor id is a caller's word: one label for all
            self.metrics.webhook_answered(vendor if vendor in self.specs else "(unknown)",
                                          request.method.upper(), answer.status)
        return answer

    async def _answer(self, vendor: str, request: WebhookRequest) -> Answer:
        spec = self.specs.get(vendor)
        if spec is None or spec.webhooks is None:
            return Answer(404, {"error": "no webhooks for this vendor"})
        method = request.method.upper()
        try:
            if method == "POST":
                return await self._post(spec, request)
            if method == "GET":
                answer = get_handshake(spec.webhooks, request.query, await self._secrets(spec))
                return answer or Answer(404, {"error": "no handshake matches this request"})
            if method == "HEAD":
                return head_handshake(spec.webhooks) or Answer(405)
        except VerificationFailed as failed:
            if self.metrics is not None:
                self.metrics.webhook_refused(vendor, failed.status, failed.reason)
            if method == "POST" and failed.status != 409:  # a missing secret is ours, not a refusal
                return refused(spec.webhooks.ack.refused, failed)
            return Answer(failed.status, {"error": failed.reason})
        except StoreError:
            log.warning("webhook for %s not stored: store unavailable", vendor)
            return _store_down()
        return Answer(405, {"error": "method not allowed"})

    async def _post(self, spec: Spec, request: WebhookRequest) -> Answer:
        webhooks = spec.webhooks
        assert webhooks is not None
        if len(request.body) > webhooks.max_body_bytes:
            return Answer(413, {"error": "body too large"})
        secrets = await self._secrets(spec)
        now = self.clock()

        def check_auth() -> None:
            verify_delivery(webhooks.verify, request.body, request.headers, secrets, now)

        if has_post_handshake(webhooks):
            try:
                probe = parse_body(request.body, webhooks.body)
            except BodyError:
                probe = None
            if probe is not None and (answer := post_handshake(webhooks, probe, check_auth)):
                return answer
        check_auth()
        try:
            document = parse_body(request.body, webhooks.body)
            if isinstance(webhooks.verify, VerifyBodyEquals):  # the secret is not kept with the events
                document = without_body_field(webhooks.verify, document)
            events = extract_events(spec.id, webhooks.events, document)
        except (BodyError, TooManyEvents) as bad:
            return Answer(400, {"error": str(bad)})
        return await self._persist(spec, events, now)

    async def _persist(self, spec: Spec, events: list[WebhookEvent], now: float) -> Answer:
        try:
            users = await self._app_users(spec.id, events)
            items = self._inbox_items(spec, events, users, now)
            # The connections the delivery speaks for: their last_webhook_at, in the same write.
            activity = [key for key in sorted({(spec.id, user_id) for user_id in users.values()})
                        if now - self._activity_stamped.get(key, -math.inf) >= ACTIVITY_RESOLUTION_S]
            results = await self.store.record_events(items, webhook_from=activity) if items else []
        except StoreError:
            log.warning("webhook for %s not stored: store unavailable", spec.id)
            return _store_down()
        if items:
            self._activity_stamped.update((key, now) for key in activity)
        new_events = sum(1 for (event, _), result in zip(items, results, strict=True)
                         if result.created and "route_of" not in event.payload)
        jobs = sum(1 for result in results if result.job_id)
        summary = {"received": len(events), "new": new_events, "jobs": jobs}
        return accepted(webhooks.ack.accepted, summary) if (webhooks := spec.webhooks) else Answer(200, summary)

    async def _app_users(self, vendor: str, events: list[WebhookEvent]) -> dict[str, str]:
        users: dict[str, str] = {}
        for vendor_user in {e.vendor_user_id for e in events if e.vendor_user_id}:
            known = self._known_users.get((vendor, vendor_user))
            if known is not None and known[1] > time.monotonic():
                users[vendor_user] = known[0]
                continue
            user_id = await self.store.get_user_id_by_vendor_user(vendor, vendor_user)
            if user_id is not None:
                users[vendor_user] = user_id
                self._known_users[(vendor, vendor_user)] = (user_id, time.monotonic() + KNOWN_USER_S)
        return users

    def _inbox_items(
        self, spec: Spec, events: list[WebhookEvent], users: Mapping[str, str], now: float
    ) -> list[tuple[InboxEvent, JobSpec | None]]:
        items: list[tuple[InboxEvent, JobSpec | None]] = []
        for event in events:
            user_id = users.get(event.vendor_user_id or "")
            routing = route_event(spec, event, received_at=now)
            note = routing.note
            # Without a vendor id, an identical later notification may be a real new change (it
            # names a day, not a version), so it stays a duplicate only while its job waits.
            repeatable = event.event_id is None
            if user_id is None and event.vendor_user_id:
                note = "no connection for this vendor user"
            jobs = [self._job(spec, event, routed.payload, user_id, i)
                    for i, routed in enumerate(routing.jobs)] if user_id or not event.vendor_user_id else []
            first = InboxEvent(
                vendor=spec.id, event_key=event.key, event_type=event.event_type,
                vendor_user_id=event.vendor_user_id, user_id=user_id, object_id=event.object_id,
                payload={"event": event.item, "note": note, "jobs": len(jobs)}, received_at=now,
                repeatable=repeatable,
            )
            items.append((first, jobs[0] if jobs else None))
            # A second route of the same event gets its own inbox key so replays stay exact.
            for i, job in enumerate(jobs[1:], start=1):
                extra = InboxEvent(
                    vendor=spec.id, event_key=f"{event.key}#{i}", event_type=event.event_type,
                    vendor_user_id=event.vendor_user_id, user_id=user_id, object_id=event.object_id,
                    payload={"route_of": event.key}, received_at=now, repeatable=repeatable,
                )
                items.append((extra, job))
        return items

    def _job(self, spec: Spec, event: WebhookEvent, payload: WebhookEventJob, user_id: str | None,
             index: int) -> JobSpec:
        extra: dict[str, Any] = {}
        if self.job_max_attempts is not None:
            extra["max_attempts"] = self.job_max_attempts
        return JobSpec(
            kind=JobKind.WEBHOOK_EVENT, payload=replace(payload, user_id=user_id).to_payload(),
            idempotency_key=f"webhook\x1f{spec.id}\x1f{event.key}\x1f{index}",
            vendor=spec.id, user_id=user_id, priority=PRIORITY_LIVE, **extra,
        )

    def _reads_stored_secrets(self, spec: Spec) -> bool:
        cached = self._stored_secret_use.get(spec.id)
        if cached is None or cached[0] is not spec:
            assert spec.webhooks is not None
            cached = self._stored_secret_use[spec.id] = (spec, uses_stored_secrets(spec.webhooks))
        return cached[1]

    async def _secrets(self, spec: Spec) -> SecretSource:
        if self.stored_secrets is not None and self._reads_stored_secrets(spec):
            return SecretSource.for_spec(spec, env=self.env, stored=await self.stored_secrets(spec.id))
        fixed = self._fixed_secrets.get(spec.id)
        if fixed is None or fixed[0] is not spec:  # nothing stored to re-read: one source per spec
            fixed = self._fixed_secrets[spec.id] = (spec, SecretSource.for_spec(spec, env=self.env))
        return fixed[1]


def accepted(declared: AckAnswer | None, summary: dict[str, int]) -> Answer:
    """The answer to a stored delivery: the engine's summary, or what the spec declares."""
    if declared is None:
        return Answer(200, summary)
    return Answer(declared.status, None if declared.status == 204 else summary,
                  dict(declared.headers) or None, raw=declared.body)


def refused(declared: AckAnswer | None, failed: VerificationFailed) -> Answer:
    """The answer to a delivery that fails `verify`. A declared status keeps the error code of
    what failed (a 404 answered to a bad signature still says `webhook_unauthenticated`)."""
    if declared is None:
        return Answer(failed.status, {"error": failed.reason})
    error = {"error": {"code": webhook_code_for_status(failed.status), "message": failed.reason}}
    return Answer(declared.status, None if declared.status == 204 else error,
                  dict(declared.headers) or None, raw=declared.body)


def _store_down() -> Answer:
    return Answer(503, {"error": "temporarily unable to store the delivery; retry later"},
                  headers={"Retry-After": "30"})
