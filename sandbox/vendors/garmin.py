"""Garmin Health/Activity API: 24 h upload-window pulls, async backfill (202/409/403)."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, HttpError, route
from sandbox.state import Record, SimState, SimUser
from sandbox.timefmt import BadParam, local_date, parse_int
from sandbox.timeline import Timeline

SUMMARY_TYPES = ("dailies", "sleeps", "hrv", "pulseox", "bodyComps", "activities")
ACTIVITY_TYPES = {"running": "RUNNING", "cycling": "CYCLING", "walking": "WALKING",
                  "strength": "STRENGTH_TRAINING", "swimming": "LAP_SWIMMING"}


def user_id(seed: int) -> str:
    return f"garmin-user-{seed:08x}"


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    uid, off = str(user.vendor_id), tl.offset_s
    horizon = tl.span[1]
    out: dict[str, list[Record]] = {t: [] for t in SUMMARY_TYPES}

    def add(kind: str, start: float, end: float, fields: dict) -> None:
        # Garmin's summaryIds end in the summary's start and duration in hex.
        duration = int(fields.get("durationInSeconds", end - start))
        summary_id = f"x{tl.rng.getrandbits(32):08x}-{int(start):x}-{duration:x}"
        record = Record(summary_id, start, end, {"summaryId": summary_id, "userId": uid,
                                                 **fields})
        record.uploaded = max(start, min(end + 600, horizon))
        out[kind].append(record)

    def common(start: float, duration: int) -> dict:
        return {"calendarDate": local_date(start, off), "startTimeInSeconds": int(start),
                "startTimeOffsetInSeconds": off, "durationInSeconds": duration}

    for index, day in enumerate(tl.days):
        start = day.local_midnight
        hr = {str(s): tl.heart_rate(start + s) for s in range(8 * 3600, 9 * 3600, 15)}
        add("dailies", start, start + 86_400, {
            **common(start, 86_400), "steps": day.steps, "distanceInMeters": float(day.distance_m),
            "activeKilocalories": day.active_kcal,
            "bmrKilocalories": day.total_kcal - day.active_kcal,
            "restingHeartRateInBeatsPerMinute": day.resting_hr,
            "minHeartRateInBeatsPerMinute": day.resting_hr - 4,
            "maxHeartRateInBeatsPerMinute": 150 + index % 25,
            "averageHeartRateInBeatsPerMinute": day.resting_hr + 14,
            "timeOffsetHeartRateSamples": hr, "averageStressLevel": 30 + index % 20,
            "bodyBatteryChargedValue": 60, "bodyBatteryDrainedValue": 55,
            "moderateIntensityDurationInSeconds": 1800,
            "vigorousIntensityDurationInSeconds": 600})
        if index % 3 == 0:
            at = day.local_midnight + 7 * 3600
            add("bodyComps", at, at, {
                "measurementTimeInSeconds": int(at), "measurementTimeOffsetInSeconds": off,
                "weightInGrams": int(day.weight_kg * 1000), "bodyFatInPercent": day.fat_pct,
                "bodyMassIndex": round(day.weight_kg / 1.78 ** 2, 1)})
    for night in (n for n in tl.nights if not n.nap):
        duration = night.in_bed_s
        quarter = night.start + duration / 4
        # A sleep's durationInSeconds leaves out awake and unmeasurable time (Health API §7.3).
        add("sleeps", night.start, night.end, {
            **common(night.start, night.deep_s + night.light_s + night.rem_s),
            "calendarDate": night.day.isoformat(), "unmeasurableSleepInSeconds": 0,
            "deepSleepDurationInSeconds": night.deep_s,
            "lightSleepDurationInSeconds": night.light_s, "remSleepInSeconds": night.rem_s,
            "awakeDurationInSeconds": night.awake_s, "sleepLevelsMap": {
                "light": [{"startTimeInSeconds": int(night.start),
                           "endTimeInSeconds": int(quarter)}],
                "deep": [{"startTimeInSeconds": int(quarter),
                          "endTimeInSeconds": int(quarter + duration / 4)}],
                "rem": [{"startTimeInSeconds": int(quarter + duration / 4),
                         "endTimeInSeconds": int(night.end)}]},
            "validation": "ENHANCED_FINAL",
            "overallSleepScore": {"value": night.score,
                                  "qualifierKey": "GOOD" if night.score >= 80 else "FAIR"},
            "timeOffsetSleepSpo2": {"0": int(night.spo2), "3600": int(night.spo2)},
            "timeOffsetSleepRespiration": {"0": night.breath, "3600": night.breath}})
        add("hrv", night.start, night.end, {
            **common(night.start, duration), "calendarDate": night.day.isoformat(),
            "lastNightAvg": night.hrv_ms, "lastNight5MinHigh": night.hrv_ms + 18,
            "hrvValues": {str(s): night.hrv_ms + (s // 300) % 7 - 3
                          for s in range(0, 3600, 300)}})
        add("pulseox", night.start, night.end, {
            **common(night.start, duration), "calendarDate": night.day.isoformat(),
            "timeOffsetSpo2Values": {str(s): int(night.spo2) for s in range(0, 3600, 600)},
            "onDemand": False})
    for w in tl.workouts:
        add("activities", w.start, w.end, {
            **common(w.start, int(w.end - w.start)), "activityId": tl.rng.randint(10**9, 10**10),
            "activityType": ACTIVITY_TYPES[w.sport], "activityName": w.sport.title(),
            "distanceInMeters": float(w.distance_m), "averageHeartRateInBeatsPerMinute": w.avg_hr,
            "maxHeartRateInBeatsPerMinute": w.max_hr, "activeKilocalories": w.kcal,
            "deviceName": "forerunner965"})
    return out


def routes(state: SimState) -> list[Route]:
    prof = state.profile("garmin")
    return [
        route(state, prof, "/wellness-api/rest/user/id", _user_id, methods=["GET"]),
        route(state, prof, "/wellness-api/rest/user/permissions", _permissions,
              methods=["GET"]),
        route(state, prof, "/wellness-api/rest/backfill/{kind}", _backfill, methods=["GET"]),
        route(state, prof, "/wellness-api/rest/{kind}", _pull, methods=["GET"]),
    ]


def _user(ctx: Ctx) -> SimUser:
    assert ctx.token is not None
    return ctx.state.user("garmin", ctx.token.family.user_key)


async def _user_id(ctx: Ctx) -> Response:
    return JSONResponse({"userId": str(_user(ctx).vendor_id)})


async def _permissions(ctx: Ctx) -> Response:
    return JSONResponse(_user(ctx).permissions)


def _kind(ctx: Ctx) -> str:
    kind = ctx.request.path_params["kind"]
    if kind not in SUMMARY_TYPES:
        raise HttpError(404, f"unknown summary type {kind}")
    return kind


def _range(ctx: Ctx, prefix: str, limit_key: str) -> tuple[int, int]:
    start = parse_int(ctx.query.get(f"{prefix}StartTimeInSeconds"),
                      f"{prefix}StartTimeInSeconds")
    end = parse_int(ctx.query.get(f"{prefix}EndTimeInSeconds"), f"{prefix}EndTimeInSeconds")
    if end <= start:
        raise BadParam(f"{prefix}EndTimeInSeconds must be after {prefix}StartTimeInSeconds")
    if end - start > ctx.state.max_window_s[limit_key]:
        raise BadParam(f"time range exceeds {ctx.state.max_window_s[limit_key]} seconds")
    return start, end


async def _pull(ctx: Ctx) -> Response:
    kind = _kind(ctx)
    start, end = _range(ctx, "upload", "garmin_pull")
    items = sorted((r for r in ctx.state.raw_records("garmin", kind, _user(ctx).key)
                    if start <= r.uploaded < end), key=lambda r: r.start)
    return JSONResponse([r.data for r in items])


async def _backfill(ctx: Ctx) -> Response:
    kind, user = _kind(ctx), _user(ctx)
    if "HISTORICAL_DATA_EXPORT" not in user.permissions:
        raise HttpError(403, "user has not granted historical data export")
    start, end = _range(ctx, "summary", "garmin_backfill")
    request = {"user": user.key, "type": kind, "start": start, "end": end}
    if request in ctx.state.backfills:
        raise HttpError(409, "duplicate backfill request")
    ctx.state.backfills.append(request)
    # Backfilled summaries are delivered later like newly received ones: the pull API lists them
    # under the upload time of that delivery (assumed; Garmin documents the delivery, not the
    # upload time the pull then shows).
    now = ctx.state.now()
    for record in ctx.state.raw_records("garmin", kind, user.key):
        if start <= record.start < end:
            record.uploaded = max(record.uploaded, now)
    return Response(status_code=202)
