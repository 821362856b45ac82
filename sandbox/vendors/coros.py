"""COROS Open API: workouts by date range (`/coros/open/sport/data`, token and openId as query
parameters, YYYYMMDD dates, at most 30 days, 3 months back), unbind. Workouts are also pushed to
the partner (sandbox/webhooks.py) with plaintext `client` / `secret` headers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, route
from sandbox.state import AccessToken, Record, SimState, SimUser
from sandbox.timeline import Timeline

# (mode, subMode) per the COROS workout type table.
SPORTS = {"running": (8, 1), "cycling": (9, 1), "swimming": (10, 2), "walking": (31, 1),
          "strength": (4, 1)}
MAX_RANGE_DAYS = 30
HISTORY_DAYS = 90


def user_id(seed: int) -> str:
    return hashlib.md5(f"coros:{seed}".encode()).hexdigest()


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    workouts = []
    quarter_hours = tl.offset_s // 900  # startTimezone, as COROS devices write it
    for index, w in enumerate(tl.workouts):
        label = str(428_714_652_351_578_112 + user.seed * 1000 + index)
        mode, sub_mode = SPORTS[w.sport]
        duration = int(w.end - w.start)
        data: dict[str, Any] = {
            "openId": user.vendor_id, "labelId": label, "mode": mode, "subMode": sub_mode,
            "distance": w.distance_m, "calorie": w.kcal,
            "avgSpeed": int(duration / (w.distance_m / 1000)) if w.distance_m else 0,
            "startTime": int(w.start), "endTime": int(w.end),
            "startTimezone": quarter_hours, "endTimezone": quarter_hours,
            "fitUrl": f"https://oss.coros.com/fit/{label}.fit"}
        if w.sport in ("running", "walking"):
            data.update(avgFrequency=170 if w.sport == "running" else 110,
                        step=(170 if w.sport == "running" else 110) * duration // 60)
        workouts.append(Record(label, w.start, w.end, data))
    return {"sport": workouts}


def routes(state: SimState) -> list[Route]:
    prof = state.profile("coros")
    return [route(state, prof, "/coros/open/sport/data", _sport, methods=["GET"], auth=False),
            route(state, prof, "/coros/open/unbind", _unbind, methods=["POST"], auth=False,
                  limited=False)]


def _result(code: str, message: str, status: int = 200, **extra: Any) -> Response:
    return JSONResponse({"result": code, "message": message, **extra}, status)


def _token(ctx: Ctx, value: str | None) -> AccessToken | None:
    return ctx.state.valid_access("coros", value)


def _day(text: str | None) -> datetime | None:
    try:
        return datetime.strptime(text or "", "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        return None


async def _sport(ctx: Ctx) -> Response:
    token = _token(ctx, ctx.query.get("token"))
    if token is None:
        return _result("5001", "token is invalid or expired", 401)
    if ctx.query.get("openId") != token.family.user_key:
        return _result("5002", "openId does not belong to this token", 403)
    start, end = _day(ctx.query.get("startDate")), _day(ctx.query.get("endDate"))
    if start is None or end is None or end < start:
        return _result("1001", "startDate and endDate must be YYYYMMDD, startDate first", 400)
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        return _result("1002", f"at most {MAX_RANGE_DAYS} days per query", 400)
    if (ctx.state.now() - start.timestamp()) > HISTORY_DAYS * 86_400 + 86_400:
        return _result("1003", "query dates must lie within 3 months of today", 400)
    last = end.timestamp() + 86_400  # endDate is inclusive
    items = [r.data for r in ctx.state.raw_records("coros", "sport", token.family.user_key)
             if start.timestamp() <= r.start < last]
    return _result("0000", "OK", data=items)


async def _unbind(ctx: Ctx) -> Response:
    token = _token(ctx, ctx.header("token"))
    if token is None:
        return _result("5001", "token is invalid or expired", 401)
    ctx.state.revoke_user("coros", token.family.user_key)
    ctx.state.counters["coros.revocations"] += 1
    return _result("0000", "OK")


def push_body(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"sportDataList": records}
