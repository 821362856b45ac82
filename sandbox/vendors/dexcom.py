"""Dexcom API v3: window-only EGVs, events and calibrations, dataRange, devices. No webhooks.

From the v3 pages: `systemTime` is the device's UTC clock and `displayTime` the time shown;
records from the phone apps (displayDevice iOS/android) carry offsets on both, records from a
receiver carry none (and a receiver's clock, set by hand, is seconds off). Events are what the
user entered: eventType carbs (grams), insulin (units; fastActing/longActing), exercise (minutes;
light/medium/heavy), health (illness, stress, ...; no value), with `value` typed as a string and
eventStatus created/updated/deleted. Calibrations are fingerstick values (int32, mg/dL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, route
from sandbox.state import Record, SimState, SimUser
from sandbox.timefmt import BadParam, iso_offset, local_naive, parse_datetime, utc
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
    return {"egvs": egvs, "events": _events(tl), "calibrations": _calibrations(tl)}


def _app_times(ts: float, tl: Timeline) -> dict[str, str]:
    return {"systemTime": utc(ts).isoformat(timespec="seconds"), "displayTime": iso_offset(ts, tl.offset_s),
            "displayDevice": "iOS"}


def _receiver_times(ts: float, tl: Timeline, drift_s: int) -> dict[str, str]:
    return {"systemTime": utc(ts).strftime("%Y-%m-%dT%H:%M:%S"),
            "displayTime": local_naive(ts + drift_s, tl.offset_s, millis=False), "displayDevice": "receiver"}


def _event(tl: Timeline, ts: float, kind: str, sub: str | None, value: str, unit: str,
           status: str = "created") -> Record:
    record_id = tl.uuid()
    return Record(record_id, ts, ts, {
        "recordId": record_id, **_app_times(ts, tl), "eventStatus": status, "eventType": kind,
        "eventSubType": sub, "value": value, "unit": unit, "transmitterId": TRANSMITTER,
        "transmitterGeneration": "g7"})


def _events(tl: Timeline) -> list[Record]:
    events: list[Record] = []
    for day in tl.days:
        for hour in (7.5, 12.5, 19.0):  # meals, with a fast-acting dose for each
            ts = day.local_midnight + hour * 3600
            grams = tl.rng.randint(25, 90)
            events.append(_event(tl, ts, "carbs", None, str(grams), "grams"))
            events.append(_event(tl, ts + 120, "insulin", "fastActing", str(round(grams / 10 * 2) / 2), "units"))
        events.append(_event(tl, day.local_midnight + 22 * 3600, "insulin", "longActing", "18", "units"))
        if tl.rng.random() < 0.2:
            events.append(_event(tl, day.local_midnight + 15 * 3600, "health",
                                 tl.rng.choice(["illness", "stress", "cycle", "alcohol"]), "", "unknown"))
    for w in tl.workouts:
        intensity = "light" if w.avg_hr < 125 else "medium" if w.avg_hr < 145 else "heavy"
        events.append(_event(tl, w.start, "exercise", intensity, str(int((w.end - w.start) // 60)), "minutes"))
    if events:  # the user removed one meal entry again
        first = events[0]
        events[0] = Record(first.id, first.start, first.end, {**first.data, "eventStatus": "deleted"})
    return sorted(events, key=lambda r: r.start)


def _calibrations(tl: Timeline) -> list[Record]:
    calibrations: list[Record] = []
    for index, day in enumerate(tl.days):  # one fingerstick each morning, from a receiver
        ts = day.local_midnight + 7 * 3600 + 5 * 60
        record_id = tl.uuid()
        calibrations.append(Record(record_id, ts, ts, {
            "recordId": record_id, **_receiver_times(ts, tl, drift_s=-(index % 40)), "unit": "mg/dL",
            "value": tl.glucose(ts) + tl.rng.randint(-6, 6), "transmitterId": TRANSMITTER,
            "transmitterTicks": 100_000 + int(ts - day.local_midnight), "transmitterGeneration": "g7"}))
    return calibrations


def routes(state: SimState) -> list[Route]:
    prof = state.profile("dexcom")
    return [route(state, prof, "/v3/users/self/egvs", _windowed("egvs", "egv"), methods=["GET"]),
            route(state, prof, "/v3/users/self/events", _windowed("events", "events"), methods=["GET"]),
            route(state, prof, "/v3/users/self/calibrations", _windowed("calibrations", "calibrations"),
                  methods=["GET"]),
            route(state, prof, "/v3/users/self/dataRange", _data_range, methods=["GET"]),
            route(state, prof, "/v3/users/self/devices", _devices, methods=["GET"])]


def _user(ctx: Ctx) -> str:
    assert ctx.token is not None
    return ctx.token.family.user_key


def _windowed(resource: str, record_type: str) -> Callable[[Ctx], Awaitable[Response]]:
    async def handler(ctx: Ctx) -> Response:
        q = ctx.query
        if not q.get("startDate") or not q.get("endDate"):
            raise BadParam("startDate and endDate are both required")
        start = parse_datetime(q["startDate"], "startDate")
        end = parse_datetime(q["endDate"], "endDate")
        if end <= start:
            raise BadParam("endDate must be after startDate")
        if end - start > ctx.state.max_window_s["dexcom"]:
            raise BadParam("the requested window is too long")
        records = [r.data for r in ctx.state.raw_records("dexcom", resource, _user(ctx))
                   if start <= r.start < end]
        return JSONResponse({"recordType": record_type, "recordVersion": "3.0", "userId": _user(ctx),
                             "records": records})
    return handler


def _span(records: list[Record]) -> dict[str, dict[str, str]] | None:
    if not records:
        return None
    first, last = min(records, key=lambda r: r.start), max(records, key=lambda r: r.start)
    return {"start": {k: first.data[k] for k in ("systemTime", "displayTime")},
            "end": {k: last.data[k] for k in ("systemTime", "displayTime")}}


async def _data_range(ctx: Ctx) -> Response:
    spans = {name: _span(ctx.state.raw_records("dexcom", name, _user(ctx)))
             for name in ("calibrations", "egvs", "events")}
    return JSONResponse({"recordType": "dataRange", "recordVersion": "3.0", "userId": _user(ctx), **spans})


async def _devices(ctx: Ctx) -> Response:
    return JSONResponse({"recordType": "device", "recordVersion": "3.0", "userId": _user(ctx),
                         "records": [{"transmitterGeneration": "g7", "displayDevice": "iOS",
                                      "transmitterId": TRANSMITTER}]})
