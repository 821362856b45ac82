"""Renewing app subscriptions ahead of expiry: the scheduler asks for the due jobs, the worker
runs them. A job's idempotency key names the expiry it renews, so however many schedulers tick,
each expiry is renewed once."""

from __future__ import annotations

from engine.context import EngineContext
from engine.jobs import JobKind, RenewSubscriptionJob
from engine.store.port import JobSpec


async def renewal_jobs(engine: EngineContext, now: float) -> list[JobSpec]:
    """One job per stored app subscription whose expiry is within its spec's `renew_before`."""
    jobs: list[JobSpec] = []
    for subscription in await engine.store.list_app_subscriptions():
        spec = engine.specs.get(subscription.vendor)
        if spec is None:
            continue
        app = spec.subscriptions.app
        if app is None or app.renew is None or subscription.expires_at is None:
            continue
        lead = app.renew_before_s or 0
        if subscription.expires_at - now > lead:
            continue
        jobs.append(JobSpec(
            kind=JobKind.RENEW_SUBSCRIPTION,
            payload=RenewSubscriptionJob(spec.id, subscription.subscription_id).to_payload(),
            idempotency_key=f"renew\x1f{spec.id}\x1f{subscription.subscription_id}\x1f{subscription.expires_at:.0f}",
            vendor=spec.id, max_attempts=5,
        ))
    return jobs
