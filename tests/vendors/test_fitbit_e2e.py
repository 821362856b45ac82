"""fitbit: connect through the vendor's consent, a notification delivered the vendor's way about one
sleep record, the worker's fetch, and the normalized samples read back through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sandbox.vendors.fitbit import zone_name
from tests.vendors.harness import AUTH, engine_app, engine_env, notified_samples


@pytest.mark.anyio
async def test_fitbit_notification_to_samples(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "fitbit"), clock) as (engine, client):
        stored = await notified_samples(engine, client, sim, "fitbit", "sleep")
        assert "sleep_session" in {s["sample_type"] for s in stored}
        assert all(s["source"] == "fitbit" and s["timestamp_utc"].endswith("Z") for s in stored)


@pytest.mark.anyio
async def test_fitbit_local_sleep_times_take_the_profiles_zone(sim, clock, tmp_path):
    """The profile names an IANA zone with the user's offset, so the sleep's local startTime lands
    on the simulator's true instant (with the old `Etc/GMT` it was shifted by the offset)."""
    async with engine_app(sim, engine_env(sim, tmp_path, "fitbit"), clock) as (engine, client):
        stored = await notified_samples(engine, client, sim, "fitbit", "sleep")
        key = sim.state.default_user("fitbit").key
        record = sim.state.raw_records("fitbit", "sleep", key)[0]
        profile = sim.state.raw_records("fitbit", "profile", key)[0].data["user"]
        offset_min = profile["offsetFromUTCMillis"] // 60_000
        session = next(s for s in stored if s["sample_type"] == "sleep_session")
        expected = datetime.fromtimestamp(record.start, UTC)
        assert session["timestamp_utc"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert session["tz_source"] == "connection" and session["tz_offset_min"] == offset_min
        local = datetime.fromisoformat(record.data["startTime"])
        assert local - expected.replace(tzinfo=None) == timedelta(minutes=offset_min)


@pytest.mark.parametrize(("offset_s", "zone"), [
    (-5 * 3600, "America/Bogota"), (0, "Africa/Abidjan"), (3600, "Africa/Lagos"),
    (2 * 3600, "Africa/Johannesburg"), (9 * 3600, "Asia/Tokyo"), (-3 * 3600, "Etc/GMT+3"),
    (4 * 3600, "Etc/GMT-4")])
def test_sandbox_profile_zone_has_the_offset_all_year(offset_s, zone):
    assert zone_name(offset_s) == zone
    for month in (1, 7):
        moment = datetime(2026, month, 15, 12, tzinfo=ZoneInfo(zone))
        assert moment.utcoffset() == timedelta(seconds=offset_s)


@pytest.mark.anyio
async def test_fitbit_per_user_subscription_follows_the_connection(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "fitbit"), clock) as (engine, client):
        await notified_samples(engine, client, sim, "fitbit", "sleep")
        owner = sim.state.default_user("fitbit").key
        assert [s["ownerId"] for s in sim.state.subscriptions["fitbit"]] == [owner]
        response = await client.delete("/v1/users/u1/connections/fitbit", headers=AUTH)
        assert response.status_code == 200, response.text
        assert sim.state.subscriptions["fitbit"] == []
