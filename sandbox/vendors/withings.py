"""Withings public health data API: `{status, body}` envelope, action= dispatch, offset+more."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, HttpError, route
from sandbox.outbound import call_callback
from sandbox.state import Record, SimState, SimUser
from sandbox.timefmt import BadParam, parse_date, parse_int
from sandbox.timeline import Timeline

TIMEZONE = "Etc/Sim"
SLEEP_STATES = ((1, 0.5), (2, 0.2), (3, 0.2), (0, 0.1))  # light, deep, REM, awake shares


def user_id(seed: int) -> int:
    return 360_000 + seed


def _group(grpid: int, ts: float, measures: list[tuple[int, int, int]], device: str
           ) -> Record:
    return Record(str(grpid), ts, ts, {
        "grpid": grpid, "attrib": 0, "date": int(ts), "created": int(ts) + 30,
        "modified": int(ts) + 30, "category": 1, "deviceid": device, "timezone": TIMEZONE,
        "comment": None,
        "measures": [{"value": v, "type": t, "unit": u, "algo": 0, "fm": 3}
                     for t, v, u in measures]})


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    measures, activities, workouts, sleeps = [], [], [], []
    grpid = int(user.vendor_id) * 1000
    for index, day in enumerate(tl.days):
        morning = day.local_midnight + 7 * 3600 + 15 * 60
        grpid += 1
        measures.append(_group(grpid, morning, [
            (1, round(day.weight_kg * 1000), -3), (6, round(day.fat_pct * 10), -1),
            (11, day.resting_hr + 8, 0)], "scale-1"))
        if index % 3 == 0:
            grpid += 1
            measures.append(_group(grpid, morning + 600, [
                (9, 78 + index % 5, 0), (10, 121 + index % 7, 0), (11, day.resting_hr + 6, 0)],
                "bpm-1"))
        if index % 5 == 0:
            grpid += 1
            measures.append(_group(grpid, morning + 900, [(71, 3660 + index % 9, -2)], "therm-1"))
        activities.append(Record(day.day.isoformat(), day.local_midnight, day.local_midnight, {
            "date": day.day.isoformat(), "timezone": TIMEZONE, "deviceid": "tracker-1",
            "brand": 18, "is_tracker": True, "steps": day.steps, "distance": day.distance_m,
            "elevation": 9.0, "soft": 9000, "moderate": 1800, "intense": 600, "active": 2400,
            "calories": day.active_kcal, "totalcalories": day.total_kcal,
            "hr_average": day.resting_hr + 15, "hr_min": day.resting_hr,
            "hr_max": 150 + index % 20, "hr_zone_0": 50000, "hr_zone_1": 3000,
            "hr_zone_2": 600, "hr_zone_3": 60, "modified": int(day.local_midnight) + 86_400}))
    for w in tl.workouts:
        wid = tl.rng.randint(10**8, 10**9)
        workouts.append(Record(str(wid), w.start, w.end, {
            "id": wid, "category": 1 if w.sport == "walking" else 2, "timezone": TIMEZONE,
            "model": 1055, "attrib": 7, "startdate": int(w.start), "enddate": int(w.end),
            "date": _ymd(w.start, tl.offset_s), "deviceid": "tracker-1",
            "modified": int(w.end) + 60, "data": {
                "calories": w.kcal, "intensity": 50, "hr_average": w.avg_hr, "hr_min": 80,
                "hr_max": w.max_hr, "steps": int((w.end - w.start) / 60 * 110),
                "distance": w.distance_m, "elevation": 10}}))
    for night in (n for n in tl.nights if not n.nap):
        sid = tl.rng.randint(10**8, 10**9)
        sleeps.append(Record(str(sid), night.start, night.end, {
            "id": sid, "timezone": TIMEZONE, "model": 32, "model_id": 63,
            "startdate": int(night.start), "enddate": int(night.end),
            "date": night.day.isoformat(), "created": int(night.end) + 600,
            "modified": int(night.end) + 600, "data": {
                "total_timeinbed": night.in_bed_s, "total_sleep_time": night.asleep_s,
                "lightsleepduration": night.light_s, "deepsleepduration": night.deep_s,
                "remsleepduration": night.rem_s,
                "sleep_efficiency": round(night.efficiency / 100, 2),
                "sleep_latency": night.latency_s, "wakeupcount": night.awake_s // 600,
                "hr_average": night.avg_hr, "hr_min": night.low_hr, "hr_max": night.avg_hr + 20,
                "rr_average": int(night.breath), "breathing_disturbances_intensity": 10,
                "apnea_hypopnea_index": 2, "sleep_score": night.score}}))
    return {"measures": measures, "activity": activities, "workouts": workouts,
            "sleep": sleeps}


def _ymd(ts: float, offset_s: int) -> str:
    from sandbox.timefmt import local_date

    return local_date(ts, offset_s)


def routes(state: SimState) -> list[Route]:
    prof = state.profile("withings")
    both = ["GET", "POST"]
    return [route(state, prof, "/measure", _measure_v1, methods=both),
            route(state, prof, "/v2/measure", _measure_v2, methods=both),
            route(state, prof, "/v2/sleep", _sleep, methods=both),
            route(state, prof, "/notify", _notify, methods=both)]


def _ok(body: dict[str, Any]) -> Response:
    return JSONResponse({"status": 0, "body": body})


def _user(ctx: Ctx) -> str:
    assert ctx.token is not None
    return ctx.token.family.user_key


def _paged(ctx: Ctx, records: list[Record], key: str, more_as_int: bool,
           extra: dict[str, Any]) -> Response:
    offset = parse_int(ctx.params.get("offset"), "offset", 0)
    size = ctx.state.page_sizes["withings"]
    chunk = records[offset:offset + size]
    more = offset + size < len(records)
    body = {**extra, key: [r.data for r in chunk],
            "more": int(more) if more_as_int else more, "offset": offset + size if more else 0}
    return _ok(body)


def _epoch_window(ctx: Ctx) -> tuple[float | None, float | None, float | None]:
    p = ctx.params
    lastupdate = parse_int(p.get("lastupdate"), "lastupdate", 0) or None
    start = parse_int(p.get("startdate"), "startdate", 0) or None
    end = parse_int(p.get("enddate"), "enddate", 0) or None
    return start, end, lastupdate


def _ymd_window(ctx: Ctx) -> tuple[str | None, str | None, float | None]:
    p = ctx.params
    lastupdate = parse_int(p.get("lastupdate"), "lastupdate", 0) or None
    first = parse_date(p["startdateymd"], "startdateymd").isoformat() \
        if p.get("startdateymd") else None
    last = parse_date(p["enddateymd"], "enddateymd").isoformat() if p.get("enddateymd") else None
    if lastupdate is None and (first is None or last is None):
        raise BadParam("startdateymd and enddateymd, or lastupdate, are required")
    return first, last, lastupdate


async def _measure_v1(ctx: Ctx) -> Response:
    if ctx.params.get("action") != "getmeas":
        raise HttpError(400, "unknown action")
    start, end, lastupdate = _epoch_window(ctx)
    p = ctx.params
    types = {int(t) for t in (p.get("meastypes") or p.get("meastype") or "").split(",")
             if t.strip().isdigit()}
    category = parse_int(p.get("category"), "category", 1)
    chosen = []
    for rec in sorted(ctx.state.raw_records("withings", "measures", _user(ctx)),
                      key=lambda r: (r.start, r.id)):
        data = rec.data
        if lastupdate is not None and data["modified"] < lastupdate:
            continue
        if lastupdate is None and ((start and rec.start < start) or (end and rec.start > end)):
            continue
        if data["category"] != category:
            continue
        if types and not any(m["type"] in types for m in data["measures"]):
            continue
        chosen.append(rec)
    return _paged(ctx, chosen, "measuregrps", True,
                  {"updatetime": int(ctx.state.now()), "timezone": TIMEZONE})


async def _measure_v2(ctx: Ctx) -> Response:
    action = ctx.params.get("action")
    if action not in ("getactivity", "getworkouts"):
        raise HttpError(400, "unknown action")
    resource, key = ("activity", "activities") if action == "getactivity" \
        else ("workouts", "series")
    first, last, lastupdate = _ymd_window(ctx)
    chosen = [r for r in sorted(ctx.state.raw_records("withings", resource, _user(ctx)),
                                key=lambda r: (r.start, r.id))
              if (r.data["modified"] >= lastupdate if lastupdate is not None
                  else first <= r.data["date"] <= last)]  # type: ignore[operator]
    return _paged(ctx, chosen, key, False, {})


async def _sleep(ctx: Ctx) -> Response:
    action = ctx.params.get("action")
    records = sorted(ctx.state.raw_records("withings", "sleep", _user(ctx)),
                     key=lambda r: (r.start, r.id))
    if action == "getsummary":
        first, last, lastupdate = _ymd_window(ctx)
        if first is not None and last is not None:
            # "A single call can span up to 7 days maximum": a wider range yields its first 7 days.
            last = min(last, (date.fromisoformat(first) + timedelta(days=6)).isoformat())
        chosen = [r for r in records if (r.data["modified"] >= lastupdate
                                         if lastupdate is not None
                                         else first <= r.data["date"] <= last)]  # type: ignore[operator]
        return _paged(ctx, chosen, "series", False, {})
    if action == "get":
        start = parse_int(ctx.params.get("startdate"), "startdate")
        end = min(parse_int(ctx.params.get("enddate"), "enddate"), start + 86_400)
        return _ok({"series": _sleep_states(records, start, end)})
    raise HttpError(400, "unknown action")


def _sleep_states(records: list[Record], start: int, end: int) -> list[dict[str, Any]]:
    out = []
    for rec in records:
        if rec.end <= start or rec.start >= end:
            continue
        cursor = rec.start
        for state, share in SLEEP_STATES:
            length = (rec.end - rec.start) * share
            if start <= cursor < end:
                out.append({"startdate": int(cursor), "enddate": int(cursor + length),
                            "state": state})
            cursor += length
    return out


async def _notify(ctx: Ctx) -> Response:
    p, subs = ctx.params, ctx.state.subscriptions["withings"]
    action = p.get("action")
    user = _user(ctx)
    if action == "subscribe":
        callback, appli = ctx.require("callbackurl"), parse_int(p.get("appli"), "appli")
        answer = await call_callback(ctx.state, "HEAD", callback)
        if answer is not None and not 200 <= answer.status_code < 300:
            raise HttpError(400, "callback url did not answer the HEAD check with 2xx",
                            vendor_status=293)
        subs[:] = [s for s in subs if (s["userid"], s["appli"], s["callbackurl"])
                   != (user, appli, callback)]
        subs.append({"userid": user, "appli": appli, "callbackurl": callback,
                     "comment": p.get("comment", "")})
        return _ok({})
    if action == "list":
        mine = [{"appli": s["appli"], "callbackurl": s["callbackurl"], "comment": s["comment"],
                 "expires": 2_147_483_647} for s in subs if s["userid"] == user
                if not p.get("appli") or str(s["appli"]) == p["appli"]]
        return _ok({"profiles": mine})
    if action == "get":
        callback = ctx.require("callbackurl")
        for s in subs:
            if s["userid"] == user and s["callbackurl"] == callback:
                return _ok({"appli": s["appli"], "callbackurl": callback,
                            "comment": s["comment"]})
        raise HttpError(404, "no such subscription")
    if action == "revoke":
        callback = ctx.require("callbackurl")
        appli = p.get("appli")
        before = len(subs)
        subs[:] = [s for s in subs if not (s["userid"] == user and s["callbackurl"] == callback
                                           and (not appli or str(s["appli"]) == appli))]
        if len(subs) == before:
            raise HttpError(404, "no such subscription")
        return _ok({})
    raise HttpError(400, "unknown action")
