"""Forged deliveries, tried as an attacker would: against the shipped specs of the vendors whose
deliveries prove no secret (Strava and Withings sign nothing; Garmin's header is the client id,
printed in every authorization URL). Each forgery leaves the connection active and stores nothing
from its body; the same delivery acts once the vendor itself confirms it."""

from __future__ import annotations

import pytest

from sandbox.state import Record
from sandbox.webhooks import (
    garmin_deregistration,
    garmin_push,
    strava_event,
    withings_notification,
)
from tests.vendors.harness import (
    connect_user,
    drain,
    engine_app,
    engine_env,
    no_initial_sync,
    samples,
)

pytestmark = pytest.mark.anyio


async def _status(engine, vendor: str, user: str = "u1") -> str:
    connection = await engine.store.get_connection(vendor, user)
    assert connection is not None
    return connection.status


async def _connected(engine, client, sim, vendor: str) -> str:
    no_initial_sync(engine, vendor)
    await connect_user(client, sim, vendor, "u1")
    await drain(engine)
    return sim.state.default_user(vendor).key


async def _deliver(client, delivery, vendor: str) -> None:
    answer = await delivery.send(client, f"/v1/webhooks/{vendor}")
    assert answer.status_code < 300, answer.text


def _deauthorization(athlete: int, *, event_time: int):
    return strava_event(object_type="athlete", object_id=athlete, aspect_type="update",
                        owner_id=athlete, subscription_id=1, updates={"authorized": "false"},
                        event_time=event_time)


async def test_forged_strava_deauthorization_disconnects_nobody(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "strava"), clock) as (engine, client):
        athlete = int(await _connected(engine, client, sim, "strava"))
        await _deliver(client, _deauthorization(athlete, event_time=1), "strava")
        assert await drain(engine) == 1
        assert await _status(engine, "strava") == "active"

        sim.state.revoke_user("strava", str(athlete))  # the athlete really revokes the app
        await _deliver(client, _deauthorization(athlete, event_time=2), "strava")
        assert await drain(engine) == 1
        assert await _status(engine, "strava") == "revoked"


async def test_forged_strava_delete_tombstones_only_what_strava_no_longer_has(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "strava"), clock) as (engine, client):
        athlete = await _connected(engine, client, sim, "strava")
        activity = sim.state.raw_records("strava", "activities", athlete)[0]
        create = strava_event(object_type="activity", object_id=int(activity.id), aspect_type="create",
                              owner_id=int(athlete), subscription_id=1)
        await _deliver(client, create, "strava")
        await drain(engine)
        assert [s for s in await samples(client, "u1") if s["sample_type"] == "workout"]

        forged = strava_event(object_type="activity", object_id=int(activity.id), aspect_type="delete",
                              owner_id=int(athlete), subscription_id=1, event_time=1)
        await _deliver(client, forged, "strava")
        assert await drain(engine) == 1
        live = [s for s in await samples(client, "u1") if s["sample_type"] == "workout"]
        assert live and not any(s["deleted"] for s in live)

        sim.state.delete_record("strava", "activities", athlete, activity.id)
        real = strava_event(object_type="activity", object_id=int(activity.id), aspect_type="delete",
                            owner_id=int(athlete), subscription_id=1, event_time=2)
        await _deliver(client, real, "strava")
        assert await drain(engine) == 1
        stored = await samples(client, "u1", include_deleted="true")
        assert [s["deleted"] for s in stored if s["sample_type"] == "workout"] == [True]


async def test_forged_withings_unlink_disconnects_nobody(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "withings"), clock) as (engine, client):
        userid = int(await _connected(engine, client, sim, "withings"))
        await _deliver(client, withings_notification(userid=userid, appli=46, action="unlink"), "withings")
        assert await drain(engine) == 1
        assert await _status(engine, "withings") == "active"

        sim.state.revoke_user("withings", str(userid))
        clock.advance(1)
        await _deliver(client, withings_notification(userid=userid, appli=46, action="unlink",
                                                     date="2026-11-30"), "withings")
        assert await drain(engine) == 1
        assert await _status(engine, "withings") == "revoked"


async def test_forged_garmin_deregistration_and_permission_change_disconnect_nobody(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "garmin"), clock) as (engine, client):
        user = await _connected(engine, client, sim, "garmin")
        client_id = sim.state.client("garmin").client_id  # public: it is in every authorize URL
        await _deliver(client, garmin_deregistration(client_id, user), "garmin")
        withdrawn = garmin_push(client_id, {"userPermissionsChange": [
            {"userId": user, "summaryId": "perm-1", "permissions": []}]})
        await _deliver(client, withdrawn, "garmin")
        assert await drain(engine) == 2
        assert await _status(engine, "garmin") == "active"

        sim.state.default_user("garmin").permissions = ["COURSE_IMPORT"]  # no data export left
        await _deliver(client, garmin_push(client_id, {"userPermissionsChange": [
            {"userId": user, "summaryId": "perm-2", "permissions": []}]}), "garmin")
        assert await drain(engine) == 1
        assert await _status(engine, "garmin") == "revoked"


async def test_garmin_deregistration_holds_once_garmin_refuses_the_token(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "garmin"), clock) as (engine, client):
        user = await _connected(engine, client, sim, "garmin")
        sim.state.revoke_user("garmin", user)
        await _deliver(client, garmin_deregistration(sim.state.client("garmin").client_id, user), "garmin")
        assert await drain(engine) == 1
        assert await _status(engine, "garmin") == "revoked"


async def test_forged_garmin_push_stores_nothing_from_its_body(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "garmin"), clock) as (engine, client):
        user = await _connected(engine, client, sim, "garmin")
        invented = [{"summaryId": f"forged-{i}", "userId": user, "calendarDate": "2026-11-30",
                     "startTimeInSeconds": 1796083200 + i, "startTimeOffsetInSeconds": 0,
                     "durationInSeconds": 86400, "steps": 99_999 + i} for i in range(3)]
        push = garmin_push(sim.state.client("garmin").client_id, {"dailies": invented})
        await _deliver(client, push, "garmin")
        assert await drain(engine) == 3
        stored = await samples(client, "u1")
        assert not [s for s in stored if str(s["meta"].get("summary_id")).startswith("forged-")]
        assert not [s for s in stored if s.get("count", 0) >= 99_999]
        # The re-read went to Garmin's own pull API, with the user's token.
        assert sim.state.calls_to("garmin", "/wellness-api/rest/dailies")

        # A summary Garmin really received is stored, however the push was made.
        uploaded = sim.state.add_record("garmin", "dailies", user, Record(
            "real-1", clock() - 3600, clock(), {**invented[0], "summaryId": "real-1", "steps": 4321}))
        await _deliver(client, garmin_push(sim.state.client("garmin").client_id,
                                           {"dailies": [uploaded.data]}), "garmin")
        assert await drain(engine) == 1
        steps = {s["meta"].get("summary_id"): s["count"]
                 for s in await samples(client, "u1") if s["sample_type"] == "steps"}
        assert steps["real-1"] == 4321 and max(steps.values()) < 99_999



@pytest.mark.slow  # reads two years of windows at the vendor's real budget: about 9 s of real time
async def test_a_notification_naming_decades_reads_at_most_the_history_horizon(sim, clock, tmp_path):
    async with engine_app(sim, engine_env(sim, tmp_path, "withings"), clock) as (engine, client):
        userid = int(await _connected(engine, client, sim, "withings"))
        before = len(sim.state.calls_to("withings", "/measure"))
        forged = withings_notification(userid=userid, appli=1, startdate=1, enddate=4_102_444_800)
        await _deliver(client, forged, "withings")
        assert await drain(engine) == 1
        reads = len(sim.state.calls_to("withings", "/measure")) - before
        horizon = engine.spec("withings").resources["measure"].list
        assert horizon is not None and 1 <= reads <= horizon.horizon_s // (30 * 86400) + 2
