"""Ultrahuman Partnership API: the user's info and one day of ring metrics per request
(`/user_data/metrics?date=YYYY-MM-DD`, a list of `{type, object}`). No webhooks."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, route
from sandbox.state import Record, SimState, SimUser
from sandbox.timefmt import BadParam, local_date, parse_date
from sandbox.timeline import Timeline

PREFIX = "/api/partners/v1"


def user_id(seed: int) -> str:
    return f"uh-{seed:06d}"


def _series(title: str, unit: str, day_start: float, values: list[dict[str, Any]]) -> dict[str, Any]:
    return {"day_start_timestamp": int(day_start), "title": title, "values": values,
            "last_reading": values[-1]["value"] if values else None, "unit": unit}


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    days = []
    for day in tl.days:
        start, end = day.local_midnight, day.local_midnight + 86_400
        hr = [{"value": tl.heart_rate(t), "timestamp": int(t)} for t in tl.sample_times(start, end, 300)]
        nights = [n for n in tl.nights if n.day == day.day and not n.nap]
        metrics: list[dict[str, Any]] = [{"type": "hr", "object": _series("Heart Rate", "BPM", start, hr)}]
        if nights:
            night = nights[0]
            hrv = [{"value": night.hrv_ms + (i % 5) - 2, "timestamp": int(t)}
                   for i, t in enumerate(tl.sample_times(night.start, night.end, 1800))]
            temp = [{"value": round(34.5 + night.temp_dev, 2), "timestamp": int(t)}
                    for t in tl.sample_times(night.start, night.end, 1800)]
            metrics += [
                {"type": "hrv", "object": _series("HRV", "ms", start, hrv)},
                {"type": "temp", "object": _series("Temperature", "°C", start, temp)},
                {"type": "Sleep", "object": {
                    "bedtime_start": int(night.start), "bedtime_end": int(night.end),
                    "quick_metrics": [{"type": "time_in_bed", "value": night.in_bed_s},
                                      {"type": "sleep_efic", "value": night.efficiency}],
                    "sleep_stages": [{"type": "deep_sleep", "stage_time": night.deep_s},
                                     {"type": "light_sleep", "stage_time": night.light_s},
                                     {"type": "rem_sleep", "stage_time": night.rem_s},
                                     {"type": "awake", "stage_time": night.awake_s}]}},
                {"type": "sleep_rhr", "object": {"value": night.low_hr, "title": "Sleeping HR"}}]
        buckets = tl.sample_times(start + 8 * 3600, start + 20 * 3600, 900)
        share = day.steps // max(1, len(buckets))
        steps = [{"value": share, "timestamp": int(t)} for t in buckets]
        metrics += [{"type": "steps", "object": _series("Steps", "steps", start, steps)},
                    {"type": "vo2_max", "object": {"day_start_timestamp": int(start),
                                                    "value": 38 + day.readiness % 9, "title": "VO2 Max"}},
                    {"type": "recovery_index", "object": {"value": day.readiness, "title": "Recovery Index"}}]
        days.append(Record(local_date(start, tl.offset_s), start, end, {"metric_data": metrics}))
    info = {"user_id": user.vendor_id, "username": f"ring-{user.seed}",
            "email": f"ring{user.seed}@example.test"}
    return {"metrics": days, "user_info": [Record("user_info", 0, 0, info)]}


def routes(state: SimState) -> list[Route]:
    prof = state.profile("ultrahuman")
    return [route(state, prof, f"{PREFIX}/user_data/user_info", _user_info, methods=["GET"]),
            route(state, prof, f"{PREFIX}/user_data/metrics", _metrics, methods=["GET"])]


def _user_key(ctx: Ctx) -> str:
    assert ctx.token is not None
    return ctx.token.family.user_key


async def _user_info(ctx: Ctx) -> Response:
    return JSONResponse(ctx.state.raw_records("ultrahuman", "user_info", _user_key(ctx))[0].data)


async def _metrics(ctx: Ctx) -> Response:
    if not ctx.query.get("date"):
        raise BadParam("date is required (YYYY-MM-DD)")
    wanted = parse_date(ctx.query["date"], "date").isoformat()
    day = next((r for r in ctx.state.raw_records("ultrahuman", "metrics", _user_key(ctx))
                if r.id == wanted), None)
    metrics = day.data["metric_data"] if day is not None else []
    return JSONResponse({"data": {"metric_data": metrics}, "error": None, "status": 200})
