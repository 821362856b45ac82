"""WHOOP Developer API v2: cycles, recovery, sleep, workouts, body, profile."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, HttpError, route
from sandbox.paging import decode_cursor, encode_cursor, in_window, page
from sandbox.state import Record, SimState, SimUser
from sandbox.timefmt import BadParam, iso_z, offset_string, parse_datetime, parse_int
from sandbox.timeline import Timeline

SPORT_IDS = {"running": 0, "cycling": 1, "walking": 63, "strength": 45, "swimming": 33}
COLLECTIONS = {"/developer/v2/cycle": "cycle", "/developer/v2/recovery": "recovery",
               "/developer/v2/activity/sleep": "sleep",
               "/developer/v2/activity/workout": "workout"}


def user_id(seed: int) -> int:
    return 10_000 + seed


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    uid = int(user.vendor_id)
    tz = offset_string(tl.offset_s)
    mains = [n for n in tl.nights if not n.nap]
    cycles, sleeps, recoveries, workouts = [], [], [], []
    for i, night in enumerate(mains):
        cycle_id = uid * 1000 + i
        end = mains[i + 1].start if i + 1 < len(mains) else None
        day = tl.days[i]
        cycles.append(Record(str(cycle_id), night.start, end or night.start, {
            "id": cycle_id, "user_id": uid, "created_at": iso_z(night.end),
            "updated_at": iso_z(night.end), "start": iso_z(night.start),
            "end": iso_z(end) if end else None, "timezone_offset": tz, "score_state": "SCORED",
            "score": {"strain": round(8 + day.active_kcal / 100, 2),
                      "kilojoule": round(day.total_kcal * 4.184, 1),
                      "average_heart_rate": day.resting_hr + 14,
                      "max_heart_rate": 150 + day.steps % 30}}))
    for night in tl.nights:
        cycle_index = max(0, min(len(cycles) - 1, tl.days.index(
            next(d for d in tl.days if d.day == night.day))))
        sleep_id = tl.uuid()
        sleeps.append(Record(sleep_id, night.start, night.end, {
            "id": sleep_id, "cycle_id": cycles[cycle_index].data["id"],
            "v1_id": tl.rng.randint(10**6, 10**7), "user_id": uid,
            "created_at": iso_z(night.end), "updated_at": iso_z(night.end),
            "start": iso_z(night.start), "end": iso_z(night.end), "timezone_offset": tz,
            "nap": night.nap, "score_state": "SCORED", "score": {
                "stage_summary": {
                    "total_in_bed_time_milli": night.in_bed_s * 1000,
                    "total_awake_time_milli": night.awake_s * 1000,
                    "total_no_data_time_milli": 0,
                    "total_light_sleep_time_milli": night.light_s * 1000,
                    "total_slow_wave_sleep_time_milli": night.deep_s * 1000,
                    "total_rem_sleep_time_milli": night.rem_s * 1000,
                    "sleep_cycle_count": max(1, night.asleep_s // 5400),
                    "disturbance_count": night.awake_s // 300},
                "sleep_needed": {"baseline_milli": 27_000_000,
                                 "need_from_sleep_debt_milli": 1_200_000,
                                 "need_from_recent_strain_milli": 300_000,
                                 "need_from_recent_nap_milli": 0},
                "respiratory_rate": night.breath,
                "sleep_performance_percentage": night.score,
                "sleep_consistency_percentage": max(40, night.score - 7),
                "sleep_efficiency_percentage": float(night.efficiency)}}))
        if not night.nap:
            cycle = cycles[cycle_index].data
            scored = tl.rng.random() > 0.1
            rec: dict[str, Any] = {
                "cycle_id": cycle["id"], "sleep_id": sleep_id, "user_id": uid,
                "created_at": iso_z(night.end), "updated_at": iso_z(night.end),
                "score_state": "SCORED" if scored else "UNSCORABLE"}
            if scored:
                rec["score"] = {"user_calibrating": False,
                                "recovery_score": tl.days[cycle_index].readiness,
                                "resting_heart_rate": tl.days[cycle_index].resting_hr,
                                "hrv_rmssd_milli": float(night.hrv_ms),
                                "spo2_percentage": night.spo2,
                                "skin_temp_celsius": round(33.7 + night.temp_dev, 2)}
            recoveries.append(Record(str(cycle["id"]), night.start, night.end, rec))
    for w in tl.workouts:
        wid = tl.uuid()
        workouts.append(Record(wid, w.start, w.end, {
            "id": wid, "v1_id": tl.rng.randint(10**6, 10**7), "user_id": uid,
            "created_at": iso_z(w.end), "updated_at": iso_z(w.end), "start": iso_z(w.start),
            "end": iso_z(w.end), "timezone_offset": tz, "sport_name": w.sport,
            "sport_id": SPORT_IDS[w.sport], "score_state": "SCORED", "score": {
                "strain": round(w.kcal / 60, 2), "average_heart_rate": w.avg_hr,
                "max_heart_rate": w.max_hr, "kilojoule": round(w.kcal * 4.184, 1),
                "percent_recorded": 100.0, "distance_meter": float(w.distance_m),
                "altitude_gain_meter": 12.0, "altitude_change_meter": 1.5,
                "zone_durations": _zones(int(w.end - w.start))}}))
    last = tl.days[-1]
    return {
        "cycle": cycles, "sleep": sleeps, "recovery": recoveries, "workout": workouts,
        "body_measurement": [Record("body", 0, 0, {
            "height_meter": 1.78, "weight_kilogram": last.weight_kg, "max_heart_rate": 192})],
        "profile": [Record("profile", 0, 0, {
            "user_id": uid, "email": f"user{uid}@example.test", "first_name": "Sim",
            "last_name": f"User{uid}"})],
    }


def _zones(duration_s: int) -> dict[str, int]:
    shares = (0.05, 0.15, 0.3, 0.3, 0.15, 0.05)
    names = ("zero", "one", "two", "three", "four", "five")
    return {f"zone_{n}_milli": int(duration_s * 1000 * s) for n, s in zip(names, shares, strict=True)}


def routes(state: SimState) -> list[Route]:
    prof = state.profile("whoop")
    out = [route(state, prof, path, _collection, methods=["GET"]) for path in COLLECTIONS]
    out += [
        route(state, prof, "/developer/v2/activity/sleep/{sleep_id}", _by_id("sleep"),
              methods=["GET"]),
        route(state, prof, "/developer/v2/activity/workout/{workout_id}", _by_id("workout"),
              methods=["GET"]),
        route(state, prof, "/developer/v2/cycle/{cycle_id:int}", _by_id("cycle"),
              methods=["GET"]),
        route(state, prof, "/developer/v2/cycle/{cycle_id:int}/recovery", _by_id("recovery"),
              methods=["GET"]),
        route(state, prof, "/developer/v2/cycle/{cycle_id:int}/sleep", _cycle_sleep,
              methods=["GET"]),
        route(state, prof, "/developer/v2/user/measurement/body", _single("body_measurement"),
              methods=["GET"]),
        route(state, prof, "/developer/v2/user/profile/basic", _single("profile"),
              methods=["GET"]),
    ]
    return out


def _user_key(ctx: Ctx) -> str:
    assert ctx.token is not None
    return ctx.token.family.user_key


async def _collection(ctx: Ctx) -> Response:
    resource = COLLECTIONS[ctx.path.rstrip("/")]
    q = ctx.query
    limit = parse_int(q.get("limit"), "limit", 10)
    if not 1 <= limit <= 25:
        raise BadParam("limit must be between 1 and 25")
    start = parse_datetime(q["start"], "start") if q.get("start") else None
    end = parse_datetime(q["end"], "end") if q.get("end") else None
    records = in_window(ctx.state.raw_records("whoop", resource, _user_key(ctx)), start, end)
    records.sort(key=lambda r: (r.start, r.id), reverse=True)
    chunk, following = page(records, decode_cursor(q.get("nextToken"), "nextToken"), limit)
    body: dict[str, Any] = {"records": [r.data for r in chunk]}
    if following is not None:
        body["next_token"] = encode_cursor(following)
    return JSONResponse(body)


def _by_id(resource: str):
    async def handler(ctx: Ctx) -> Response:
        wanted = str(next(iter(ctx.request.path_params.values())))
        for rec in ctx.state.raw_records("whoop", resource, _user_key(ctx)):
            if rec.id == wanted:
                return JSONResponse(rec.data)
        raise HttpError(404, f"{resource} {wanted} not found")
    return handler


async def _cycle_sleep(ctx: Ctx) -> Response:
    cycle_id = ctx.request.path_params["cycle_id"]
    for rec in ctx.state.raw_records("whoop", "sleep", _user_key(ctx)):
        if rec.data["cycle_id"] == cycle_id and not rec.data["nap"]:
            return JSONResponse(rec.data)
    raise HttpError(404, f"no sleep for cycle {cycle_id}")


def _single(resource: str):
    async def handler(ctx: Ctx) -> Response:
        return JSONResponse(ctx.state.raw_records("whoop", resource, _user_key(ctx))[0].data)
    return handler
