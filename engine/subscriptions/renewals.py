"""Renewing app subscriptions ahead of expiry: the scheduler asks for the due jobs, the worker
runs them. A job's idempotency key names the expiry it renews, so however many schedulers tick,
each expiry is renewed once."""

from __future__ import annotations

import logging
from typing import Any

from engine.errors import EngineError
from engine.store.port import Job, JobSpec
from engine.subscriptions.app import AppSubscriptionManager
from engine.worker.runner import PermanentJobError

log = logging.getLogger("engine.subscriptions")

RENEW_JOB = "app_subscription_renew"


async def renewal_jobs(engine: Any, now: float) -> list[JobSpec]:
    """One job per stored app subscription whose expiry is within its spec's `renew_before`."""
    jobs: list[JobSpec] = []
    for subscription in await engine.store.list_app_subscriptions():
        spec = engine.specs.get(subscription.vendor)
        app = spec.subscriptions.app if spec is not None else None
        if app is None or app.renew is None or subscription.expires_at is None:
            continue
        lead = app.renew_before_s or 0
        if subscription.expires_at - now > lead:
            continue
        jobs.append(JobSpec(
            kind=RENEW_JOB,
            payload={"vendor": spec.id, "subscription_id": subscription.subscription_id},
            idempotency_key=f"renew\x1f{spec.id}\x1f{subscription.subscription_id}\x1f{subscription.expires_at:.0f}",
            vendor=spec.id, max_attempts=5,
        ))
    return jobs


async def handle_renew(job: Job, engine: Any) -> None:
    vendor = job.payload.get("vendor")
    subscription_id = job.payload.get("subscription_id")
    if not isinstance(vendor, str) or not isinstance(subscription_id, str):
        raise PermanentJobError("job payload needs vendor and subscription_id strings")
    try:
        renewed = await AppSubscriptionManager(engine).renew(vendor, subscription_id=subscription_id)
    except EngineError as error:
        if error.status < 500:
            raise PermanentJobError(error.message) from None
        raise
    log.info("app subscription renewed", extra={"vendor": vendor, "subscription_id": subscription_id,
                                                "expires_at": renewed[0].expires_at if renewed else None})
