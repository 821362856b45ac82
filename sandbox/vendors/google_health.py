"""Google Health API v4 (Fitbit's successor), from its discovery document: data points are listed
with an AIP-160 `filter` whose field depends on the data type (sleep filters on its end time only;
an unsupported field is a 400 INVALID_ARGUMENT), pages of at most 10000 points (25 for sleep and
exercise, larger sizes are coerced), sleep `type` CLASSIC or STAGES with the nap flag in
`metadata.nap`, exercise listed by `exercise.interval.civil_start_time`: the start as the user's
local wall clock, compared with bounds written without an offset. The rest of the data point
layout is the simulator's own."""

from __future__ import annotations

import re

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, HttpError, route
from sandbox.paging import decode_cursor, encode_cursor, page
from sandbox.state import Record, SimState, SimUser
from sandbox.timefmt import BadParam, iso_z, parse_datetime, parse_int
from sandbox.timeline import Timeline


def user_id(seed: int) -> str:
    return str(7_000_000_000 + seed)


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    base = f"users/{user.vendor_id}/dataTypes"
    steps, hr, sleep = [], [], []
    for day in tl.days:
        start, end = day.local_midnight, day.local_midnight + 86_400
        steps.append(Record(f"s{int(start)}", start, end, {
            "name": f"{base}/steps/dataPoints/s{int(start)}",
            "steps": {"interval": {"startTime": iso_z(start), "endTime": iso_z(end)},
                      "count": str(day.steps)}}))
    span_start, span_end = tl.span
    for t in tl.sample_times(span_start, span_end, 900):
        hr.append(Record(f"h{int(t)}", t, t, {
            "name": f"{base}/heart-rate/dataPoints/h{int(t)}",
            "heartRate": {"sampleTime": {"physicalTime": iso_z(t)},
                          "beatsPerMinute": str(tl.heart_rate(t))}}))
    for night in tl.nights:
        sleep.append(Record(f"z{int(night.start)}", night.start, night.end, {
            "name": f"{base}/sleep/dataPoints/z{int(night.start)}",
            "sleep": {"interval": {"startTime": iso_z(night.start), "endTime": iso_z(night.end)},
                      "type": "CLASSIC" if night.nap else "STAGES",
                      "metadata": {"nap": night.nap, "processed": True},
                      "summary": {"minutesAsleep": str(night.asleep_s // 60),
                                  "minutesAwake": str(night.awake_s // 60)}}}))
    exercise = []
    offset = f"{tl.offset_s}s"
    for w in tl.workouts:
        exercise.append(Record(f"x{int(w.start)}", w.start, w.end, {
            "name": f"{base}/exercise/dataPoints/x{int(w.start)}",
            "exercise": {"interval": {"startTime": iso_z(w.start), "startUtcOffset": offset,
                                      "endTime": iso_z(w.end), "endUtcOffset": offset},
                         "exerciseType": w.sport.upper(), "activeDuration": f"{int(w.end - w.start)}s",
                         "updateTime": iso_z(w.end),
                         "metricsSummary": {"caloriesKcal": w.kcal,
                                            "distanceMillimeters": str(w.distance_m * 1000),
                                            "averageHeartRateBeatsPerMinute": str(w.avg_hr)}}}))
    return {"steps": steps, "heart-rate": hr, "sleep": sleep, "exercise": exercise}


def routes(state: SimState) -> list[Route]:
    prof = state.profile("google_health")
    return [route(state, prof, "/v4/users/me/identity", _identity, methods=["GET"]),
            route(state, prof, "/v4/users/me/dataTypes/{data_type}/dataPoints", _points,
                  methods=["GET"])]


def _user(ctx: Ctx) -> str:
    assert ctx.token is not None
    return ctx.token.family.user_key


async def _identity(ctx: Ctx) -> Response:
    return JSONResponse({"name": "users/me/identity", "healthUserId": _user(ctx)})


async def _points(ctx: Ctx) -> Response:
    kind = ctx.request.path_params["data_type"]
    data = ctx.state.dataset("google_health", _user(ctx))
    if kind not in data:
        raise HttpError(404, f"unknown data type {kind}", code="NOT_FOUND")
    q = ctx.query
    size = parse_int(q.get("pageSize"), "pageSize", ctx.state.page_sizes["google_health"])
    if size < 1:
        raise BadParam("pageSize must be positive")
    size = min(size, 25 if kind in ("sleep", "exercise") else 10_000)
    field, bounds = _filter(kind, q.get("filter", ""))
    records = sorted((r for r in data[kind] if _inside(_compared(r, field), bounds)), key=lambda r: r.start)
    chunk, following = page(records, decode_cursor(q.get("pageToken"), "pageToken"), size)
    body: dict = {"dataPoints": [r.data for r in chunk]}
    if following is not None:
        body["nextPageToken"] = encode_cursor(following)
    return JSONResponse(body)


# The documented filter field of each data type, and which record time it compares.
_FILTER_FIELDS = {
    "steps": ("steps.interval.start_time", "start"),
    "heart-rate": ("heart_rate.sample_time.physical_time", "start"),
    "sleep": ("sleep.interval.end_time", "end"),
    "exercise": ("exercise.interval.civil_start_time", "civil_start"),
}
_CLAUSE = re.compile(r'^\s*([a-z_.]+)\s*(>=|<)\s*"([^"]*)"\s*$')


def _filter(kind: str, text: str) -> tuple[str, list[tuple[str, float]]]:
    field, compares = _FILTER_FIELDS[kind]
    bounds = []
    for clause in (c for c in re.split(r"\s+AND\s+", text.strip()) if c):
        match = _CLAUSE.match(clause)
        if match is None:
            raise HttpError(400, f"invalid filter clause {clause!r}", code="INVALID_ARGUMENT")
        if match.group(1) != field:
            raise HttpError(400, f"filter field {match.group(1)} is not supported for {kind}; use {field}",
                            code="INVALID_ARGUMENT")
        bounds.append((match.group(2), parse_datetime(match.group(3), match.group(1))))
    return compares, bounds


def _compared(record: Record, field: str) -> float:
    if field == "end":
        return record.end
    if field == "civil_start":  # the local wall clock, read as if it were UTC like the bounds
        return record.start + int(record.data["exercise"]["interval"]["startUtcOffset"].rstrip("s"))
    return record.start


def _inside(t: float, bounds: list[tuple[str, float]]) -> bool:
    return all(t >= value if op == ">=" else t < value for op, value in bounds)
