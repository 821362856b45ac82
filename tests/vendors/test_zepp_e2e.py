"""Zepp (Huami) sends no webhooks: connect with the app's time zone (the identity comes from a
POST to the token-verify host), the initial sync reads local dates and minute-index nights and
converts them with that zone; a token refresh goes to the refresh URL with the refresh token as
`Authorization: Bearer` and none in the body."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sandbox.timeline import Timeline
from tests.auth.harness import consent, start
from tests.vendors.harness import drain, engine_app, engine_env, no_initial_sync, samples

pytestmark = pytest.mark.anyio


def iana_for(offset_s: int) -> str:
    """The fixed-offset IANA zone of the simulated person (POSIX sign: Etc/GMT-9 is UTC+9)."""
    hours = -offset_s // 3600
    return "Etc/UTC" if hours == 0 else f"Etc/GMT{hours:+d}"


def utc_text(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def connect_with_zone(client, sim, user: str) -> None:
    """A person whose zone is not UTC (so a mistaken conversion cannot pass unnoticed)."""
    seed = next(s for s in range(1, 100) if Timeline(s, 14, date(2026, 1, 1)).offset_s not in (0, 3600))
    person = sim.state.add_user("zepp", seed=seed)
    offset = Timeline(person.seed, person.days, person.anchor).offset_s
    assert offset not in (0, 3600)
    sim.state.next_authorize("zepp", user=person.key)
    callback = await consent(await start(client, "zepp", user, {"tz": iana_for(offset)}))
    answer = await client.get(callback)
    assert answer.status_code in (200, 302), answer.text


async def test_zepp_local_dates_and_minute_indices_take_the_app_zone(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "zepp"), clock) as (engine, client):
        await connect_with_zone(client, sim, "u1")
        person = sim.state.default_user("zepp")
        (connection,) = await engine.store.list_connections(user_id="u1")
        assert connection.vendor_user_id == person.vendor_id  # from POST /oauth2/verify
        assert [c.method for c in sim.state.calls_to("zepp", "/oauth2/verify")] == ["POST"]
        assert await drain(engine) >= 4
        nights = sim.state.raw_records("zepp", "sleep", person.key)
        sessions = {s["provenance"]["vendor_record_id"]: s for s in await samples(client, "u1", type="sleep_session")}
        assert sessions and set(sessions) <= {n.id for n in nights}
        for night in nights:
            if night.id in sessions:  # the simulator's own instants, recovered from local minutes
                assert sessions[night.id]["timestamp_utc"] == utc_text(night.start)
                assert sessions[night.id]["end_utc"] == utc_text(night.end)
                assert sessions[night.id]["tz_source"] == "app"
        days = {r.id: r for r in sim.state.raw_records("zepp", "activities", person.key)}
        steps = await samples(client, "u1", type="steps")
        assert steps
        for sample in steps:
            day = days[sample["provenance"]["vendor_record_id"]]
            assert sample["timestamp_utc"] == utc_text(day.start)  # the local midnight
            assert sample["local_date"] == day.id and sample["count"] == day.data["steps"]
        beats = await samples(client, "u1", type="heart_rate")
        assert beats and all(b["bpm"] > 0 for b in beats)  # 0 (not worn) is no reading
        assert await samples(client, "u1", type="weight")


async def test_zepp_refresh_sends_the_refresh_token_as_a_bearer_header(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "zepp"), clock) as (engine, client):
        no_initial_sync(engine, "zepp")
        await connect_with_zone(client, sim, "u1")
        before = await engine.store.get_connection("zepp", "u1")
        refreshed = await engine.oauth.fresh_connection("zepp", "u1", force=True)
        assert refreshed.access_token != before.access_token
        (call,) = sim.state.calls_to("zepp", "/oauth2/refresh_token")
        assert call.status == 200
        assert call.headers["authorization"] == f"Bearer {before.refresh_token}"
        assert b"refresh_token=" not in call.body and b"grant_type=refresh_token" in call.body
        assert b"client_secret=" in call.body
