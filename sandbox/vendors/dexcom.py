"""Dexcom API v3: window-only EGVs, dataRange, devices. No webhooks."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, route
from sandbox.state import Record, SimState, SimUser
from sandbox.timefmt import BadParam, iso_offset, parse_datetime, utc
from sandbox.timeline import Timeline

TRANSMITTER = "8XY123"


def user_id(seed: int) -> str:
    return f"dexcom-{seed:08x}"


def _trend(delta: int) -> tuple[str, float]:
    if delta >= 10:
        return "singleUp", 2.2
    if delta >= 5:
        return "fortyFiveUp", 1.2
    if delta <= -10:
        return "singleDown", -2.2
    if delta <= -5:
        return "fortyFiveDown", -1.2
    return "flat", round(delta / 5, 1)


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    start, end = tl.span
    egvs: list[Record] = []
    previous = None
    for ticks, ts in enumerate(tl.sample_times(start, end, 300)):
        value = tl.glucose(ts)
        trend, rate = _trend(value - previous if previous is not None else 0)
        previous = value
        record_id = tl.uuid()
        status = "high" if value > 250 else "low" if value < 70 else "ok"
        egvs.append(Record(record_id, ts, ts, {
            "recordId": record_id, "systemTime": utc(ts).strftime("%Y-%m-%dT%H:%M:%S"),
            "displayTime": iso_offset(ts, tl.offset_s), "transmitterId": TRANSMITTER,
            "transmitterTicks": 100_000 + ticks * 300, "value": value, "status": status,
            "trend": trend, "trendRate": rate, "unit": "mg/dL", "rateUnit": "mg/dL/min",
            "displayDevice": "iOS", "transmitterGeneration": "g7"}))
    return {"egvs": egvs}


def routes(state: SimState) -> list[Route]:
    prof = state.profile("dexcom")
    return [route(state, prof, "/v3/users/self/egvs", _egvs, methods=["GET"]),
            route(state, prof, "/v3/users/self/dataRange", _data_range, methods=["GET"]),
            route(state, prof, "/v3/users/self/devices", _devices, methods=["GET"])]


def _user(ctx: Ctx) -> str:
    assert ctx.token is not None
    return ctx.token.family.user_key


async def _egvs(ctx: Ctx) -> Response:
    q = ctx.query
    if not q.get("startDate") or not q.get("endDate"):
        raise BadParam("startDate and endDate are both required")
    start = parse_datetime(q["startDate"], "startDate")
    end = parse_datetime(q["endDate"], "endDate")
    if end <= start:
        raise BadParam("endDate must be after startDate")
    if end - start > ctx.state.max_window_s["dexcom"]:
        raise BadParam("the requested window is too long")
    records = [r.data for r in ctx.state.raw_records("dexcom", "egvs", _user(ctx))
               if start <= r.start < end]
    return JSONResponse({"recordType": "egv", "recordVersion": "3.0", "userId": _user(ctx),
                         "records": records})


async def _data_range(ctx: Ctx) -> Response:
    egvs = ctx.state.raw_records("dexcom", "egvs", _user(ctx))
    span = None
    if egvs:
        first, last = min(egvs, key=lambda r: r.start), max(egvs, key=lambda r: r.start)
        span = {"start": {k: first.data[k] for k in ("systemTime", "displayTime")},
                "end": {k: last.data[k] for k in ("systemTime", "displayTime")}}
    return JSONResponse({"recordType": "dataRange", "recordVersion": "3.0",
                         "userId": _user(ctx), "calibrations": None, "egvs": span,
                         "events": None})


async def _devices(ctx: Ctx) -> Response:
    return JSONResponse({"recordType": "device", "recordVersion": "3.0", "userId": _user(ctx),
                         "records": [{"transmitterGeneration": "g7", "displayDevice": "iOS",
                                      "transmitterId": TRANSMITTER}]})
