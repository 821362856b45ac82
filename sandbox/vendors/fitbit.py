"""Fitbit Web API (legacy): sleep 1.2, activity log list, heart intraday, HRV, SpO2,
per-user subscriptions."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, HttpError, route
from sandbox.state import Record, SimState, SimUser
from sandbox.timefmt import (
    BadParam,
    iso_offset,
    local_naive,
    offset_string,
    parse_date,
    parse_int,
)
from sandbox.timeline import Timeline

COLLECTIONS = {"activities", "body", "foods", "sleep", "userRevokedAccess"}
# Fitbit's profile names the account's zone as an IANA name ("America/Los_Angeles" in its Get
# Profile example) beside `offsetFromUTCMillis`, the offset in force now. A timeline keeps one
# offset all year, so each offset is a zone without daylight saving time.
ZONES = {-5 * 3600: "America/Bogota", 0: "Africa/Abidjan", 3600: "Africa/Lagos",
         2 * 3600: "Africa/Johannesburg", 9 * 3600: "Asia/Tokyo"}


def zone_name(offset_s: int) -> str:
    """The profile's `timezone` for a fixed offset: a place when one is known, else the POSIX-style
    Etc zone (whose sign is inverted: Etc/GMT-3 is three hours east of UTC)."""
    if offset_s in ZONES:
        return ZONES[offset_s]
    if offset_s % 3600:
        raise ValueError(f"no IANA zone has the fixed offset {offset_s} s")
    hours = -offset_s // 3600
    return f"Etc/GMT{hours:+d}" if hours else "Etc/GMT"
DETAIL_STEP = {"1sec": 1, "1min": 1, "5min": 5, "15min": 15}


def user_id(seed: int) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    out, n = "", seed * 7_919 + 1_234_567
    while len(out) < 6:
        n, r = divmod(n, len(alphabet))
        out += alphabet[r]
    return out


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    off = tl.offset_s
    sleeps, activities, heart, intraday, hrv, spo2 = [], [], [], [], [], []
    for night in tl.nights:
        log_id = tl.rng.randint(10**10, 10**11)
        third = night.in_bed_s // 3
        levels = [{"dateTime": local_naive(night.start + i * third, off), "level": lvl,
                   "seconds": third} for i, lvl in enumerate(("light", "deep", "rem"))]
        sleeps.append(Record(str(log_id), night.start, night.end, {
            "dateOfSleep": night.day.isoformat(), "startTime": local_naive(night.start, off),
            "endTime": local_naive(night.end, off), "duration": night.in_bed_s * 1000,
            "efficiency": night.efficiency, "isMainSleep": not night.nap, "logId": log_id,
            "minutesAsleep": night.asleep_s // 60, "minutesAwake": night.awake_s // 60,
            "minutesToFallAsleep": night.latency_s // 60, "timeInBed": night.in_bed_s // 60,
            "type": "stages", "levels": {"summary": {
                "deep": {"minutes": night.deep_s // 60}, "light": {"minutes": night.light_s // 60},
                "rem": {"minutes": night.rem_s // 60}, "wake": {"minutes": night.awake_s // 60}},
                "data": levels}}))
    for w in tl.workouts:
        log_id = tl.rng.randint(10**10, 10**11)
        activities.append(Record(str(log_id), w.start, w.end, {
            "logId": log_id, "activityName": w.sport.title(), "logType": "auto_detected",
            "startTime": local_naive(w.start, off) + offset_string(off),
            "duration": int(w.end - w.start) * 1000, "activeDuration": int(w.end - w.start) * 1000,
            "calories": w.kcal, "steps": int((w.end - w.start) / 60 * 120),
            "distance": round(w.distance_m / 1000, 3), "distanceUnit": "Kilometer",
            "averageHeartRate": w.avg_hr, "lastModified": iso_offset(w.end, 0)}))
    for index, day in enumerate(tl.days):
        d = day.day.isoformat()
        night = next(n for n in tl.nights if n.day == day.day and not n.nap)
        heart.append(Record(d, day.local_midnight, day.local_midnight + 86_400, {
            "dateTime": d, "value": {"restingHeartRate": day.resting_hr, "heartRateZones": [
                {"name": "Out of Range", "min": 30, "max": 97, "minutes": 1200},
                {"name": "Fat Burn", "min": 97, "max": 135, "minutes": 90},
                {"name": "Cardio", "min": 135, "max": 164, "minutes": 20},
                {"name": "Peak", "min": 164, "max": 220, "minutes": 3}]}}))
        for minute in range(1440):
            ts = day.local_midnight + minute * 60
            intraday.append(Record(f"{d}T{minute}", ts, ts + 60, {
                "time": f"{minute // 60:02d}:{minute % 60:02d}:00",
                "value": tl.heart_rate(ts)}))
        hrv.append(Record(d, day.local_midnight, day.local_midnight, {
            "dateTime": d, "value": {"dailyRmssd": float(night.hrv_ms),
                                     "deepRmssd": float(night.hrv_ms + 4 + index % 3)}}))
        spo2.append(Record(d, day.local_midnight, day.local_midnight, {
            "dateTime": d, "value": {"avg": night.spo2, "min": round(night.spo2 - 2.5, 1),
                                     "max": min(100.0, round(night.spo2 + 1.5, 1))}}))
    return {"sleep": sleeps, "activities": activities, "heart": heart,
            "heart_intraday": intraday, "hrv": hrv, "spo2": spo2,
            "profile": [Record(str(user.vendor_id), 0, 0, {"user": {
                "encodedId": str(user.vendor_id), "displayName": "Sim User",
                "timezone": zone_name(off), "offsetFromUTCMillis": off * 1000}})]}


def routes(state: SimState) -> list[Route]:
    prof = state.profile("fitbit")
    get = ["GET"]
    return [
        route(state, prof, "/1/user/-/profile.json", _profile, methods=get),
        route(state, prof, "/1.2/user/-/sleep/date/{start}.json", _sleep, methods=get),
        route(state, prof, "/1.2/user/-/sleep/date/{start}/{end}.json", _sleep, methods=get),
        route(state, prof, "/1/user/-/activities/list.json", _activity_list, methods=get),
        route(state, prof, "/1/user/-/activities/heart/date/{start}/{end}/{detail}.json",
              _heart_intraday, methods=get),
        route(state, prof, "/1/user/-/hrv/date/{start}.json", _daily("hrv", "hrv"), methods=get),
        route(state, prof, "/1/user/-/hrv/date/{start}/{end}.json", _daily("hrv", "hrv"),
              methods=get),
        route(state, prof, "/1/user/-/spo2/date/{start}.json", _daily("spo2", None), methods=get),
        route(state, prof, "/1/user/-/spo2/date/{start}/{end}.json", _daily("spo2", None),
              methods=get),
        route(state, prof, "/1/user/-/apiSubscriptions.json", _sub_list, methods=get),
        route(state, prof, "/1/user/-/{collection}/apiSubscriptions.json", _sub_list,
              methods=get),
        route(state, prof, "/1/user/-/apiSubscriptions/{sub_id}.json", _sub_change,
              methods=["POST", "DELETE"]),
        route(state, prof, "/1/user/-/{collection}/apiSubscriptions/{sub_id}.json", _sub_change,
              methods=["POST", "DELETE"]),
    ]


def _user(ctx: Ctx) -> str:
    assert ctx.token is not None
    return ctx.token.family.user_key


def _range(ctx: Ctx, max_days: int) -> tuple[date, date]:
    params = ctx.request.path_params
    start = parse_date(params["start"], "start date")
    end_text = params.get("end", params["start"])
    end = start if end_text == "1d" else parse_date(end_text, "end date")
    if end < start:
        raise BadParam("end date is before start date")
    if (end - start).days + 1 > max_days:
        raise BadParam(f"date range exceeds {max_days} days")
    return start, end


async def _profile(ctx: Ctx) -> Response:
    return JSONResponse(ctx.state.raw_records("fitbit", "profile", _user(ctx))[0].data)


async def _sleep(ctx: Ctx) -> Response:
    start, end = _range(ctx, 100)
    items = [r.data for r in ctx.state.raw_records("fitbit", "sleep", _user(ctx))
             if start.isoformat() <= r.data["dateOfSleep"] <= end.isoformat()]
    items.sort(key=lambda s: s["startTime"], reverse=True)
    return JSONResponse({"sleep": items, "summary": {
        "totalMinutesAsleep": sum(s["minutesAsleep"] for s in items),
        "totalSleepRecords": len(items), "totalTimeInBed": sum(s["timeInBed"] for s in items)}})


async def _activity_list(ctx: Ctx) -> Response:
    q = ctx.query
    after, before = q.get("afterDate"), q.get("beforeDate")
    sort = q.get("sort", "")
    if bool(after) == bool(before):
        raise BadParam("exactly one of afterDate or beforeDate is required")
    if (after and sort != "asc") or (before and sort != "desc"):
        raise BadParam("afterDate needs sort=asc, beforeDate needs sort=desc")
    limit = parse_int(q.get("limit"), "limit", 20)
    offset = parse_int(q.get("offset"), "offset", 0)
    if not 1 <= limit <= 100:
        raise BadParam("limit must be between 1 and 100")
    bound = after or before or ""
    records = ctx.state.raw_records("fitbit", "activities", _user(ctx))
    keyed = [(r.data["startTime"][:19], r) for r in records]
    bound_text = bound if "T" in bound else bound + ("T23:59:59" if after else "T00:00:00")
    chosen = sorted(((k, r) for k, r in keyed if (k > bound_text if after else k < bound_text)),
                    key=lambda kr: kr[0], reverse=bool(before))
    chunk = [r.data for _, r in chosen[offset:offset + limit]]
    has_next = offset + limit < len(chosen)
    url = ctx.request.url
    return JSONResponse({"activities": chunk, "pagination": {
        **({"afterDate": after} if after else {"beforeDate": before}), "limit": limit,
        "offset": offset, "sort": sort,
        "next": str(url.include_query_params(offset=offset + limit)) if has_next else "",
        "previous": str(url.include_query_params(offset=max(0, offset - limit)))
        if offset else ""}})


async def _heart_intraday(ctx: Ctx) -> Response:
    detail = ctx.request.path_params["detail"]
    if detail not in DETAIL_STEP:
        raise BadParam(f"detail level must be one of {sorted(DETAIL_STEP)}")
    start, _end = _range(ctx, 1)
    d = start.isoformat()
    step = DETAIL_STEP[detail]
    days = [r.data for r in ctx.state.raw_records("fitbit", "heart", _user(ctx))
            if r.data["dateTime"] == d]
    rows = [r for r in ctx.state.raw_records("fitbit", "heart_intraday", _user(ctx))
            if r.id.startswith(d + "T")]
    dataset_rows = [r.data for i, r in enumerate(rows) if i % step == 0]
    return JSONResponse({"activities-heart": days, "activities-heart-intraday": {
        "dataset": dataset_rows, "datasetInterval": step,
        "datasetType": "second" if detail == "1sec" else "minute"}})


def _daily(resource: str, key: str | None):
    async def handler(ctx: Ctx) -> Response:
        start, end = _range(ctx, 30)
        items = [r.data for r in ctx.state.raw_records("fitbit", resource, _user(ctx))
                 if start.isoformat() <= r.data["dateTime"] <= end.isoformat()]
        if key is not None:
            return JSONResponse({key: items})
        if "end" not in ctx.request.path_params:
            return JSONResponse(items[0] if items else {})
        return JSONResponse(items)
    return handler


async def _sub_list(ctx: Ctx) -> Response:
    collection = ctx.request.path_params.get("collection")
    subs = [s for s in ctx.state.subscriptions["fitbit"] if s["ownerId"] == _user(ctx)
            and (collection is None or s["collectionType"] == collection)]
    return JSONResponse({"apiSubscriptions": subs})


async def _sub_change(ctx: Ctx) -> Response:
    params = ctx.request.path_params
    collection, sub_id = params.get("collection"), params["sub_id"]
    if collection is not None and collection not in COLLECTIONS:
        raise HttpError(404, f"unknown collection {collection}")
    if len(sub_id) > 50:
        raise BadParam("subscription id longer than 50 characters")
    subs = ctx.state.subscriptions["fitbit"]
    mine = [s for s in subs if s["ownerId"] == _user(ctx) and s["subscriptionId"] == sub_id
            and (collection is None or s["collectionType"] == collection)]
    if ctx.request.method == "DELETE":
        if not mine:
            raise HttpError(404, "subscription not found")
        for sub in mine:
            subs.remove(sub)
        return Response(status_code=204)
    entry: dict[str, Any] = {"collectionType": collection or "user", "ownerId": _user(ctx),
                             "ownerType": "user",
                             "subscriberId": ctx.header("x-fitbit-subscriber-id") or "1",
                             "subscriptionId": sub_id}
    if mine:
        return JSONResponse(mine[0], 200)
    subs.append(entry)
    return JSONResponse(entry, 201)
