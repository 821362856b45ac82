"""A notification without an event id names a day, not a version: the same bytes again may be a
real new change, so they are a duplicate only while the first one's job has not started."""

from __future__ import annotations

import json

import pytest

from tests.webhooks.app_helpers import client, inbox_rows, make_app
from tests.webhooks.conftest import FITBIT_SECRET, connect
from tests.webhooks.signers import fitbit_headers

pytestmark = pytest.mark.anyio

NOTIFICATION = [{"collectionType": "sleep", "date": "2024-03-01", "ownerId": "228TQ4",
                 "ownerType": "user", "subscriptionId": "1"}]


async def test_same_notification_collapses_while_queued_and_counts_again_after_the_job(specs, store, tmp_path):
    await connect(store, "fitbit_style", "app-user-3", "228TQ4")
    body = json.dumps(NOTIFICATION).encode()
    headers = fitbit_headers(FITBIT_SECRET, body)

    async def deliver() -> dict:
        response = await http.post("/v1/webhooks/fitbit_style", content=body, headers=headers)
        assert response.status_code == 200
        return response.json()

    async with client(make_app(specs, store)) as http:
        assert await deliver() == {"received": 1, "new": 1, "jobs": 1}
        # The vendor retrying the same delivery while the fetch is still queued: nothing new.
        assert await deliver() == {"received": 1, "new": 0, "jobs": 0}
        assert len(await store.list_jobs()) == 1

        first = await store.claim("worker-1")
        assert first is not None and await store.ack(first.id, "worker-1")
        # After the fetch ran, the same notification means the day changed again.
        assert await deliver() == {"received": 1, "new": 1, "jobs": 1}
        assert await deliver() == {"received": 1, "new": 0, "jobs": 0}

    jobs = await store.list_jobs()
    assert len(jobs) == 2 and [job.state for job in jobs] == ["done", "queued"]
    assert jobs[1].payload["window"] == {"start": "2024-03-01", "end": "2024-03-01"}
    assert len(inbox_rows(tmp_path / "data")) == 2
