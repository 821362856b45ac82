"""google_health reports deletions as time intervals, not record ids: the delete-by-window route
tombstones what was stored inside the interval, and the re-read of the same interval keeps what the
vendor still holds."""

from __future__ import annotations

import pytest

from sandbox.webhooks import delete_record, notification_for
from tests.vendors.harness import drain, engine_app, engine_env, notified_samples, samples

pytestmark = pytest.mark.anyio


async def test_interval_deletion_tombstones_only_the_deleted_record(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "google_health"), clock) as (engine, client):
        await notified_samples(engine, client, sim, "google_health", "sleep")
        user = sim.state.default_user("google_health")
        # a second night, notified on its own (a notification names only the interval it changed)
        second = sim.state.raw_records("google_health", "sleep", user.key)[1]
        delivery = notification_for(sim.state, "google_health", "sleep", user.key, second, "update")
        assert (await delivery.send(client, "/v1/webhooks/google_health")).status_code == 204
        assert await drain(engine) == 1
        sessions = await samples(client, "u1", type="sleep_session")
        assert len(sessions) == 2
        gone = sim.state.raw_records("google_health", "sleep", user.key)[0]
        gone_name = gone.data["name"]
        clock.advance(1)

        delivery = delete_record(sim.state, "google_health", "sleep", user.key, gone.id)
        answer = await delivery.send(client, "/v1/webhooks/google_health")
        assert answer.status_code < 300, answer.text
        assert await drain(engine) == 2  # the window's tombstone and its re-read

        everything = await samples(client, "u1", include_deleted="true", type="sleep_session")
        deleted = {s["provenance"]["vendor_record_id"] for s in everything if s["deleted"]}
        assert deleted == {gone_name}
        live = await samples(client, "u1", type="sleep_session")
        assert len(live) == len(sessions) - 1
        assert gone_name not in {s["provenance"]["vendor_record_id"] for s in live}
