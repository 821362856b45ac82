"""Issuing ingest tokens and storing the batches posted with them.

A batch is authenticated by the user's own ingest token, and the token alone says whose data it
is: nothing in the body can name another user. Its records are mapped by the spec's resources and
stored like fetched ones (idempotent upserts on the records' ids, archived with channel `push`);
its deletions tombstone by record id. The work is done before the answer, so a 200 means stored
and the app may move its anchor on; any failure leaves the app to post the same batch again.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from engine.archive.keeping import Arrival
from engine.errors import BadRequest, NotFound, RateLimited, Unauthorized
from engine.ingest.batch import BatchError, read_batch
from engine.spec.model import Spec
from engine.store.port import BudgetRequest, IngestToken
from engine.worker.context import WorkerContext

log = logging.getLogger("engine.ingest")

TOKEN_PREFIX = "sit_"
PUSH = Arrival("push", "authenticated")
MAX_TOKEN_CHARS = 256
MAX_REPORTED_TYPES = 20


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # shown once; only its keyed hash is stored
    record: IngestToken


@dataclass(slots=True)
class IngestSummary:
    records: int = 0
    samples: int = 0
    warnings: int = 0
    deleted: int = 0
    ignored: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "samples": self.samples, "warnings": self.warnings,
                "deleted": self.deleted, "ignored": dict(list(self.ignored.items())[:MAX_REPORTED_TYPES])}


def ingest_spec(engine: WorkerContext, vendor: str) -> Spec:
    """The spec of an on-device source, or `NotFound` (also for vendors connected by OAuth)."""
    spec = engine.spec(vendor)
    if spec.ingest is None:
        raise NotFound(f"{spec.id} is not an on-device source; it takes no ingest batches",
                       code="ingest_not_handled", vendor=spec.id)
    return spec


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > MAX_TOKEN_CHARS:
        return None
    return value


class IngestService:
    def __init__(self, engine: WorkerContext) -> None:
        self.engine = engine

    async def issue(self, vendor: str, user_id: str) -> IssuedToken:
        """A new token for the user (earlier ones stay valid until they expire or are revoked:
        one per device); the connection is created, or made active again."""
        spec = ingest_spec(self.engine, vendor)
        assert spec.ingest is not None
        store = self.engine.store
        now = self.engine.clock()
        await store.upsert_connection(spec.id, user_id, vendor_user_id=None, scopes=(), access_token=None,
                                      refresh_token=None, token_expires_at=None, now=now)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = await store.add_ingest_token(spec.id, user_id, token, expires_at=now + spec.ingest.token_ttl_s,
                                              now=now)
        log.info("ingest token issued", extra={"vendor": spec.id, "user": user_id, "token_id": record.token_id})
        return IssuedToken(token, record)

    async def authenticate(self, spec: Spec, authorization: str | None) -> IngestToken:
        token = bearer_token(authorization)
        owner = None
        if token is not None:
            owner = await self.engine.store.ingest_token_owner(spec.id, token, now=self.engine.clock())
        if owner is None:
            raise Unauthorized("the ingest token is missing, unknown, revoked or expired; ask your backend "
                               "for a new one", code="ingest_token_invalid", vendor=spec.id)
        return owner

    async def admit(self, spec: Spec, owner: IngestToken) -> None:
        """The user's rate budget for batches: one slot, or `RateLimited` with the wait."""
        assert spec.ingest is not None
        rate = spec.ingest.rate
        grant = await self.engine.store.acquire_budget(
            [BudgetRequest(key=f"ingest:{spec.id}:{owner.user_id}", rate=rate.requests,
                           period_s=rate.window_s, burst=rate.requests)],
            max_wait_s=0.0, now=self.engine.clock())
        if not grant.granted:
            raise RateLimited(f"more than {rate.requests} batches in {rate.window_s} s for this user; "
                              "retry later", vendor=spec.id, retry_after=max(grant.wait_s, 1.0))

    async def ingest(self, spec: Spec, owner: IngestToken, body: bytes) -> IngestSummary:
        try:
            batch = read_batch(spec, body)
        except BatchError as bad:
            raise BadRequest(str(bad), code="invalid_batch", vendor=spec.id) from None
        user_id = owner.user_id  # from the token, never from the body
        sync = self.engine.sync
        summary = IngestSummary(records=batch.record_count, ignored=batch.ignored)
        for resource, records in batch.records.items():
            stored = await sync.store_records(spec, resource, user_id, records, arrival=PUSH)
            summary.samples += stored.written
            summary.warnings += stored.warnings
        for deletion in batch.deletions:
            resources = [deletion.resource] if deletion.resource else list(spec.resources)
            for resource in resources:
                summary.deleted += await sync.tombstone(spec, resource, user_id, deletion.record_id)
        await self.engine.store.record_connection_activity(spec.id, user_id, last_webhook_at=self.engine.clock())
        log.info("batch stored", extra={"vendor": spec.id, "user": user_id, "records": summary.records,
                                        "samples": summary.samples, "deleted": summary.deleted,
                                        "warnings": summary.warnings})
        return summary
