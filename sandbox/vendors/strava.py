"""Strava API v3: athlete, activities (page/per_page), push subscription."""

from __future__ import annotations

import hmac
import secrets

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, HttpError, route
from sandbox.outbound import call_callback
from sandbox.state import Record, SimState, SimUser
from sandbox.timefmt import BadParam, iso_z, parse_int, utc
from sandbox.timeline import Timeline

SPORT_TYPES = {"running": "Run", "cycling": "Ride", "walking": "Walk",
               "strength": "WeightTraining", "swimming": "Swim"}


def user_id(seed: int) -> int:
    return 5_000_000 + seed


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    athlete_id = int(user.vendor_id)
    offset = tl.offset_s
    activities = []
    for w in tl.workouts:
        activity_id = tl.rng.randint(10**9, 10**10)
        sport = SPORT_TYPES[w.sport]
        moving = int(w.end - w.start)
        activities.append(Record(str(activity_id), w.start, w.end, {
            "id": activity_id, "resource_state": 2,
            "athlete": {"id": athlete_id, "resource_state": 1},
            "name": f"Evening {sport}", "sport_type": sport, "type": sport,
            "start_date": iso_z(w.start)[:19] + "Z",
            "start_date_local": utc(w.start + offset).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timezone": f"(GMT{offset // 3600:+03d}:00) Etc/Sim", "utc_offset": float(offset),
            "distance": float(w.distance_m), "moving_time": moving, "elapsed_time": moving + 60,
            "total_elevation_gain": 12.0, "has_heartrate": True,
            "average_heartrate": float(w.avg_hr), "max_heartrate": float(w.max_hr),
            "kilojoules": round(w.kcal * 4.184, 1), "calories": float(w.kcal)}))
    return {"activities": activities, "athlete": [Record(str(athlete_id), 0, 0, {
        "id": athlete_id, "username": f"sim{athlete_id}", "resource_state": 2,
        "firstname": "Sim", "lastname": "Athlete", "city": "Simtown", "country": "Simland",
        "sex": "M", "created_at": "2020-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"})]}


def routes(state: SimState) -> list[Route]:
    prof = state.profile("strava")
    return [
        route(state, prof, "/api/v3/athlete", _athlete, methods=["GET"]),
        route(state, prof, "/api/v3/athlete/activities", _activities, methods=["GET"]),
        route(state, prof, "/api/v3/activities/{activity_id:int}", _activity, methods=["GET"]),
        route(state, prof, "/api/v3/push_subscriptions", _sub_create, methods=["POST"],
              auth=False, limited=False),
        route(state, prof, "/api/v3/push_subscriptions", _sub_list, methods=["GET"],
              auth=False, limited=False),
        route(state, prof, "/api/v3/push_subscriptions/{sub_id:int}", _sub_delete,
              methods=["DELETE"], auth=False, limited=False),
    ]


def _user(ctx: Ctx) -> str:
    assert ctx.token is not None
    return ctx.token.family.user_key


async def _athlete(ctx: Ctx) -> Response:
    return JSONResponse(ctx.state.raw_records("strava", "athlete", _user(ctx))[0].data)


async def _activities(ctx: Ctx) -> Response:
    q = ctx.query
    page_no = parse_int(q.get("page"), "page", 1)
    per_page = parse_int(q.get("per_page"), "per_page", 30)
    if page_no < 1 or not 1 <= per_page <= 200:
        raise BadParam("page must be >= 1 and per_page between 1 and 200")
    before = parse_int(q.get("before"), "before", 0) or None
    after = parse_int(q.get("after"), "after", 0) or None
    records = [r for r in ctx.state.raw_records("strava", "activities", _user(ctx))
               if (before is None or r.start < before) and (after is None or r.start > after)]
    records.sort(key=lambda r: r.start, reverse=after is None)
    chunk = records[(page_no - 1) * per_page: page_no * per_page]
    return JSONResponse([r.data for r in chunk])


async def _activity(ctx: Ctx) -> Response:
    wanted = str(ctx.request.path_params["activity_id"])
    for rec in ctx.state.raw_records("strava", "activities", _user(ctx)):
        if rec.id == wanted:
            return JSONResponse({**rec.data, "resource_state": 3, "description": None})
    raise HttpError(404, "Record Not Found")


def _client_ok(ctx: Ctx) -> None:
    client = ctx.state.client("strava")
    params = ctx.params
    if not (hmac.compare_digest(params.get("client_id", ""), client.client_id)
            and hmac.compare_digest(params.get("client_secret", ""), client.client_secret)):
        raise HttpError(401, "Authorization Error: client_id / client_secret")


async def _sub_create(ctx: Ctx) -> Response:
    _client_ok(ctx)
    callback, verify_token = ctx.require("callback_url"), ctx.require("verify_token")
    subs = ctx.state.subscriptions["strava"]
    if subs:
        raise HttpError(400, "subscription already exists")
    challenge = secrets.token_urlsafe(12)
    answer = await call_callback(ctx.state, "GET", callback, params={
        "hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify_token})
    if answer is not None:
        try:
            ok = answer.status_code == 200 and answer.json().get("hub.challenge") == challenge
        except ValueError:
            ok = False
        if not ok:
            raise HttpError(400, "callback url not verifiable")
    sub = {"id": ctx.state.new_numeric_id(), "callback_url": callback,
           "verify_token": verify_token}
    subs.append(sub)
    return JSONResponse({"id": sub["id"]}, 201)


async def _sub_list(ctx: Ctx) -> Response:
    _client_ok(ctx)
    return JSONResponse([{"id": s["id"], "resource_state": 2, "application_id": 1,
                          "callback_url": s["callback_url"]}
                         for s in ctx.state.subscriptions["strava"]])


async def _sub_delete(ctx: Ctx) -> Response:
    _client_ok(ctx)
    subs = ctx.state.subscriptions["strava"]
    wanted = ctx.request.path_params["sub_id"]
    for sub in subs:
        if sub["id"] == wanted:
            subs.remove(sub)
            return Response(status_code=204)
    raise HttpError(404, "subscription not found")
