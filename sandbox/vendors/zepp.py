"""Zepp / Huami Web API (api-doc.html of zepp-health/rest-api): token verify on the auth host,
and on the API host the profile, daily activities, daily sleep (Amazfit start/stop as minute
indices from the local midnight of `date`), heart rate per minute (0 when not worn) and body
measurements, each `{"items": [...]}` for `startDate`..`endDate`. No webhooks (the 2017 push
draft was withdrawn)."""

from __future__ import annotations

from datetime import date, timedelta

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, route
from sandbox.state import Record, SimState, SimUser
from sandbox.timefmt import BadParam, local_date, parse_date
from sandbox.timeline import Timeline

HEART_RATE_STEP_S = 600


def user_id(seed: int) -> str:
    return str(1_000_000_000 + seed)


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    activities, sleeps, body = [], [], []
    for day in tl.days:
        sync = int(day.local_midnight + 86_400 + 3600)
        activities.append(Record(day.day.isoformat(), day.local_midnight, day.local_midnight + 86_400, {
            "date": day.day.isoformat(), "lastSyncTime": sync, "steps": day.steps,
            "distance": day.distance_m, "walkTime": day.steps // 110, "runDistance": 0, "runTime": 0,
            "calories": day.active_kcal, "runCalories": 0}))
        body.append(Record(f"b{day.day.isoformat()}", day.local_midnight + 7 * 3600, day.local_midnight, {
            "weight": day.weight_kg, "height": 178.0, "bmi": round(day.weight_kg / 1.78 ** 2, 1),
            "fatRate": day.fat_pct, "weightType": 0, "timestamp": int(day.local_midnight + 7 * 3600)}))
    for night in (n for n in tl.nights if not n.nap):
        midnight = next(d.local_midnight for d in tl.days if d.day == night.day)
        sleeps.append(Record(night.day.isoformat(), night.start, night.end, {
            "date": night.day.isoformat(), "lastSyncTime": int(night.end + 600),
            "deepSleepTime": night.deep_s // 60, "shallowSleepTime": (night.light_s + night.rem_s) // 60,
            "wakeTime": night.awake_s // 60, "start": int((night.start - midnight) // 60),
            "stop": int((night.end - midnight) // 60), "sleepScore": night.score, "mode": 4}))
    beats = []
    start, end = tl.span
    for ts in tl.sample_times(start, end, HEART_RATE_STEP_S):
        worn = int(ts // HEART_RATE_STEP_S) % 17 != 0  # now and then the band is off: 0
        day_text = local_date(ts, tl.offset_s)
        beats.append(Record(str(int(ts)), ts, ts, {
            "date": day_text, "minute": int(((ts + tl.offset_s) % 86_400) // 60),
            "lastSyncTime": int(ts + 900), "heartRateData": tl.heart_rate(ts) if worn else 0,
            "timestamp": int(ts), "measureType": "AUTO"}))
    profile = {"userId": user.vendor_id, "gender": 1, "birthday": "1988-04", "height": 178.0,
               "weight": tl.days[-1].weight_kg, "nickName": f"Sim{user.seed}", "avatar": ""}
    return {"activities": activities, "sleep": sleeps, "heart_rate": beats, "body": body,
            "profile": [Record("profile", 0, 0, profile)]}


def routes(state: SimState) -> list[Route]:
    prof = state.profile("zepp")
    return [route(state, prof, "/oauth2/verify", _verify, methods=["POST"], limited=False),
            route(state, prof, "/users/-/profile", _profile, methods=["GET"]),
            *(route(state, prof, f"/users/-/{path}", _items(resource), methods=["GET"])
              for path, resource in (("activities", "activities"), ("sleep", "sleep"),
                                     ("heartrates", "heart_rate"), ("body", "body")))]


def _user_key(ctx: Ctx) -> str:
    assert ctx.token is not None
    return ctx.token.family.user_key


async def _verify(ctx: Ctx) -> Response:
    token = ctx.token
    assert token is not None
    return JSONResponse({"userId": ctx.state.user("zepp", token.family.user_key).vendor_id,
                         "clientId": ctx.state.client("zepp").client_id,
                         "scope": ";".join(token.family.scopes), "scopeObjects": None,
                         "scopeProperties": None, "expireAt": int(token.expires_at), "region": None,
                         "thirdpartyId": None, "thirdpartyName": None})


async def _profile(ctx: Ctx) -> Response:
    return JSONResponse(ctx.state.raw_records("zepp", "profile", _user_key(ctx))[0].data)


def _days(ctx: Ctx) -> tuple[date, date]:
    q = ctx.query
    if not q.get("startDate") or not q.get("endDate"):
        raise BadParam("startDate and endDate are required (yyyy-MM-dd)")
    first, last = parse_date(q["startDate"], "startDate"), parse_date(q["endDate"], "endDate")
    if last < first:
        raise BadParam("endDate is before startDate")
    return first, last


def _items(resource: str):
    async def handler(ctx: Ctx) -> Response:
        first, last = _days(ctx)
        wanted = {(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)}
        records = ctx.state.raw_records("zepp", resource, _user_key(ctx))
        if resource == "body":  # measured at a moment: by its UTC day (timezone defaults to UTC)
            items = [r.data for r in records if local_date(r.start, 0) in wanted]
        else:
            items = [r.data for r in records if r.data["date"] in wanted]
        return JSONResponse({"items": items})
    return handler
