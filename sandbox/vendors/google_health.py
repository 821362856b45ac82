"""Google Health API v4 (Fitbit's successor). Response shapes beyond identity and the page-token
convention are not documented in detail; the data point layout here is the simulator's own."""

from __future__ import annotations

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
                      "type": "NAP" if night.nap else "SLEEP",
                      "summary": {"minutesAsleep": str(night.asleep_s // 60),
                                  "minutesAwake": str(night.awake_s // 60)}}}))
    return {"steps": steps, "heart-rate": hr, "sleep": sleep}


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
    if not 1 <= size <= 1000:
        raise BadParam("pageSize must be between 1 and 1000")
    start = parse_datetime(q["startTime"], "startTime") if q.get("startTime") else None
    end = parse_datetime(q["endTime"], "endTime") if q.get("endTime") else None
    records = sorted((r for r in data[kind] if (start is None or r.start >= start)
                      and (end is None or r.start < end)), key=lambda r: r.start)
    chunk, following = page(records, decode_cursor(q.get("pageToken"), "pageToken"), size)
    body: dict = {"dataPoints": [r.data for r in chunk]}
    if following is not None:
        body["nextPageToken"] = encode_cursor(following)
    return JSONResponse(body)
