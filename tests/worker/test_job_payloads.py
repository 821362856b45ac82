"""Job payloads are typed records: what a producer writes, the handler reads back; a payload that
does not fit is a permanent failure with the field named, never a crash inside a handler."""

from __future__ import annotations

import pytest

from engine.jobs import (
    InitialSyncJob,
    PermanentJobError,
    PollJob,
    RenewSubscriptionJob,
    SyncWindowJob,
    TokenRefreshJob,
    WebhookEventJob,
)

EXAMPLES = [
    WebhookEventJob(vendor="acme", event_key="sleep/1", action="fetch", trust="weak", received_at=12.5,
                    object_id="7", by="changes", data=None, route_index=0, lookback_s=86400),
    SyncWindowJob(vendor="acme", user_id="u1", resource="sleep",
                  window={"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-02T00:00:00+00:00"}),
    PollJob("acme", "u1", "sleep"),
    InitialSyncJob("acme", "u1"),
    TokenRefreshJob("acme", "u1", 3),
    RenewSubscriptionJob("acme", "sub-1"),
]


@pytest.mark.parametrize("job", EXAMPLES, ids=lambda job: type(job).__name__)
def test_a_payload_reads_back_as_written(job):
    assert type(job).read(job.to_payload()) == job


def test_a_missing_or_mistyped_field_is_a_permanent_failure_naming_it():
    with pytest.raises(PermanentJobError, match="'user_id'"):
        PollJob.read({"vendor": "acme", "resource": "sleep"})
    with pytest.raises(PermanentJobError, match="'token_version' must be a int"):
        TokenRefreshJob.read({"vendor": "acme", "user_id": "u1", "token_version": "3"})
    with pytest.raises(PermanentJobError, match="must be a number"):
        WebhookEventJob.read({"vendor": "a", "event_key": "k", "action": "fetch", "received_at": True})


def test_a_webhook_job_from_before_trust_levels_still_reads():
    old = {"vendor": "acme", "event_key": "k", "action": "fetch", "resource": "sleep", "by": "id",
           "object_id": "1", "received_at": 1.0, "data": {"x": 1}}
    job = WebhookEventJob.read(old)
    assert (job.trust, job.data, job.confirm) == (None, {"x": 1}, None)
