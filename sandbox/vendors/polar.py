"""Polar AccessLink v3: mandatory user registration, date-windowed data, one app webhook."""

from __future__ import annotations

import base64
import hmac
import secrets
from datetime import date, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, HttpError, route
from sandbox.outbound import call_callback
from sandbox.state import Record, SimState, SimUser
from sandbox.timefmt import BadParam, iso_offset, local_naive, parse_date, utc
from sandbox.timeline import Timeline

EVENTS = {"EXERCISE", "SLEEP", "CONTINUOUS_HEART_RATE", "ACTIVITY_SUMMARY",
          "SLEEP_WISE_ALERTNESS", "SLEEP_WISE_CIRCADIAN_BEDTIME", "PHYSICAL_INFORMATION"}
API = "https://www.polaraccesslink.com"


def user_id(seed: int) -> int:
    return 40_000_000 + seed


def _hhmm(ts: float, offset_s: int) -> str:
    return utc(ts + offset_s).strftime("%H:%M")


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    off, polar_user = tl.offset_s, f"{API}/v3/users/{user.vendor_id}"
    nights, recharges, activities, hr = [], [], [], []
    for night in (n for n in tl.nights if not n.nap):
        d = night.day.isoformat()
        samples = tl.sample_times(night.start, night.end, 600)
        nights.append(Record(d, night.start, night.end, {
            "polar_user": polar_user, "date": d,
            "sleep_start_time": iso_offset(night.start, off),
            "sleep_end_time": iso_offset(night.end, off), "device_id": "1111AAAA",
            "continuity": 3.1, "continuity_class": 3, "light_sleep": night.light_s,
            "deep_sleep": night.deep_s, "rem_sleep": night.rem_s,
            "unrecognized_sleep_stage": 0, "sleep_score": night.score, "sleep_charge": 3,
            "total_interruption_duration": night.awake_s, "sleep_cycles": 4,
            "group_depth_score": 80,
            "hypnogram": {_hhmm(t, off): (i % 4) + 1 for i, t in enumerate(samples)},
            "heart_rate_samples": {_hhmm(t, off): tl.heart_rate(t) for t in samples}}))
        recharges.append(Record(d, night.start, night.end, {
            "polar_user": polar_user, "date": d, "heart_rate_avg": night.avg_hr,
            "beat_to_beat_avg": int(60_000 / night.avg_hr),
            "heart_rate_variability_avg": night.hrv_ms, "breathing_rate_avg": night.breath,
            "nightly_recharge_status": 1 + night.score % 6, "ans_charge": round(
                (night.hrv_ms - 60) / 6, 1), "ans_charge_status": 1 + night.score % 5,
            "hrv_samples": {_hhmm(t, off): night.hrv_ms for t in samples[:6]},
            "breathing_samples": {_hhmm(t, off): night.breath for t in samples[:6]}}))
    for day in tl.days:
        d = day.day.isoformat()
        activities.append(Record(d, day.local_midnight, day.local_midnight + 86_400, {
            "polar_user": polar_user, "date": d,
            "start_time": local_naive(day.local_midnight, off, millis=False),
            "end_time": local_naive(day.local_midnight + 86_399, off, millis=False),
            "active_duration": "PT2H10M", "inactive_duration": "PT9H", "daily_activity": 80.0,
            "calories": day.total_kcal, "active_calories": day.active_kcal,
            "steps": day.steps, "inactivity_alert_count": 1,
            "distance_from_steps": float(day.distance_m)}))
        hr.append(Record(d, day.local_midnight, day.local_midnight + 86_400, {
            "polar_user": polar_user, "date": d, "heart_rate_samples": [
                {"heart_rate": tl.heart_rate(t), "sample_time": utc(t + off).strftime("%H:%M:%S")}
                for t in tl.sample_times(day.local_midnight, day.local_midnight + 86_400, 300)]}))
    exercises = []
    for w in tl.workouts:
        ex_id = base64.urlsafe_b64encode(tl.rng.randbytes(6)).decode()
        minutes = int(w.end - w.start) // 60
        exercises.append(Record(ex_id, w.start, w.end, {
            "id": ex_id, "upload_time": iso_offset(w.end + 300, 0), "polar_user": polar_user,
            "device": "Polar Vantage V3", "start_time": local_naive(w.start, off, millis=False),
            "start_time_utc_offset": off // 60, "duration": f"PT{minutes // 60}H{minutes % 60}M",
            "calories": w.kcal, "distance": float(w.distance_m),
            "heart_rate": {"average": w.avg_hr, "maximum": w.max_hr},
            "sport": w.sport.upper(), "has_route": w.distance_m > 0,
            "detailed_sport_info": w.sport.upper()}))
    return {"sleep": nights, "nightly_recharge": recharges, "activities": activities,
            "continuous_heart_rate": hr, "exercises": exercises}


def routes(state: SimState) -> list[Route]:
    prof = state.profile("polar")
    get = ["GET"]
    return [
        route(state, prof, "/v3/users", _register, methods=["POST"]),
        route(state, prof, "/v3/users/{user_id:int}", _deregister, methods=["DELETE"]),
        route(state, prof, "/v3/exercises", _exercises, methods=get),
        route(state, prof, "/v3/exercises/{exercise_id}", _exercise, methods=get),
        route(state, prof, "/v3/users/sleep", _listing("sleep", "nights"), methods=get),
        route(state, prof, "/v3/users/sleep/available", _sleep_available, methods=get),
        route(state, prof, "/v3/users/sleep/{day}", _by_date("sleep"), methods=get),
        route(state, prof, "/v3/users/nightly-recharge",
              _listing("nightly_recharge", "recharges"), methods=get),
        route(state, prof, "/v3/users/nightly-recharge/{day}", _by_date("nightly_recharge"),
              methods=get),
        route(state, prof, "/v3/users/activities", _windowed("activities", None), methods=get),
        route(state, prof, "/v3/users/continuous-heart-rate",
              _windowed("continuous_heart_rate", "heart_rates"), methods=get),
        route(state, prof, "/v3/webhooks", _webhook_create, methods=["POST"], auth=False,
              limited=False),
        route(state, prof, "/v3/webhooks", _webhook_list, methods=get, auth=False,
              limited=False),
        route(state, prof, "/v3/webhooks/activate", _webhook_activate, methods=["POST"],
              auth=False, limited=False),
        route(state, prof, "/v3/webhooks/{hook_id}", _webhook_change,
              methods=["PATCH", "DELETE"], auth=False, limited=False),
    ]


def _user(ctx: Ctx, *, registered: bool = True) -> SimUser:
    assert ctx.token is not None
    user = ctx.state.user("polar", ctx.token.family.user_key)
    if registered and not user.registered:
        raise HttpError(403, "user is not registered: POST /v3/users first")
    return user


async def _register(ctx: Ctx) -> Response:
    user = _user(ctx, registered=False)
    body = ctx.json()
    if not isinstance(body, dict) or not isinstance(body.get("member-id"), str):
        raise HttpError(400, "JSON body with member-id required")
    if user.registered:
        raise HttpError(409, "user already registered")
    user.registered = True
    return JSONResponse({"polar-user-id": user.vendor_id, "member-id": body["member-id"],
                         "registration-date": utc(ctx.state.now()).isoformat(),
                         "first-name": "Sim", "last-name": "User"})


async def _deregister(ctx: Ctx) -> Response:
    user = _user(ctx, registered=False)
    if ctx.request.path_params["user_id"] != user.vendor_id:
        raise HttpError(403, "token does not belong to this user")
    user.registered = False
    ctx.state.revoke_user("polar", user.key)
    return Response(status_code=204)


def _recent(ctx: Ctx, resource: str, days: int) -> list[Record]:
    since = ctx.state.now() - days * 86_400
    return sorted((r for r in ctx.state.raw_records("polar", resource, _user(ctx).key)
                   if r.start >= since), key=lambda r: r.start)


async def _exercises(ctx: Ctx) -> Response:
    return JSONResponse([r.data for r in _recent(ctx, "exercises", 30)])


async def _exercise(ctx: Ctx) -> Response:
    wanted = ctx.request.path_params["exercise_id"]
    for rec in ctx.state.raw_records("polar", "exercises", _user(ctx).key):
        if rec.id == wanted:
            return JSONResponse(rec.data)
    raise HttpError(404, "exercise not found")


def _listing(resource: str, key: str):
    async def handler(ctx: Ctx) -> Response:
        return JSONResponse({key: [r.data for r in _recent(ctx, resource, 28)]})
    return handler


async def _sleep_available(ctx: Ctx) -> Response:
    return JSONResponse({"available": [
        {"date": r.data["date"], "start_time": r.data["sleep_start_time"],
         "end_time": r.data["sleep_end_time"]} for r in _recent(ctx, "sleep", 28)]})


def _by_date(resource: str):
    async def handler(ctx: Ctx) -> Response:
        day = parse_date(ctx.request.path_params["day"], "date").isoformat()
        for rec in ctx.state.raw_records("polar", resource, _user(ctx).key):
            if rec.data["date"] == day:
                return JSONResponse(rec.data)
        raise HttpError(404, f"no {resource} for {day}")
    return handler


def _window(ctx: Ctx) -> tuple[date, date]:
    q = ctx.query
    if not q.get("from") or not q.get("to"):
        raise BadParam("from and to are required")
    first, last = parse_date(q["from"], "from"), parse_date(q["to"], "to")
    if last < first:
        raise BadParam("to is before from")
    if (last - first) + timedelta(days=1) > timedelta(seconds=ctx.state.max_window_s["polar"]):
        raise BadParam("date window longer than 28 days")
    return first, last


def _windowed(resource: str, key: str | None):
    async def handler(ctx: Ctx) -> Response:
        first, last = _window(ctx)
        items = [r.data for r in ctx.state.raw_records("polar", resource, _user(ctx).key)
                 if first.isoformat() <= r.data["date"] <= last.isoformat()]
        items.sort(key=lambda d: d["date"])
        return JSONResponse({key: items} if key else items)
    return handler


# --- the app's single webhook (client Basic auth) -------------------------------------------

def _client_basic(ctx: Ctx) -> None:
    client = ctx.state.client("polar")
    expected = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
    if not hmac.compare_digest(ctx.header("authorization") or "", f"Basic {expected}"):
        raise HttpError(401, "client Basic authentication required")


async def _ping(ctx: Ctx, url: str) -> None:
    answer = await call_callback(ctx.state, "POST", url, json={
        "timestamp": utc(ctx.state.now()).isoformat(), "event": "PING"})
    if answer is not None and answer.status_code != 200:
        raise HttpError(400, f"webhook url answered the PING with {answer.status_code}")


def _webhook_body(ctx: Ctx) -> dict[str, Any]:
    body = ctx.json()
    if not isinstance(body, dict):
        raise HttpError(400, "JSON object expected")
    events = body.get("events")
    if events is not None and (not isinstance(events, list) or any(e not in EVENTS
                                                                   for e in events)):
        raise HttpError(400, f"events must be a subset of {sorted(EVENTS)}")
    return body


async def _webhook_create(ctx: Ctx) -> Response:
    _client_basic(ctx)
    body = _webhook_body(ctx)
    if not isinstance(body.get("url"), str) or not body.get("events"):
        raise HttpError(400, "events and url are required")
    hooks = ctx.state.subscriptions["polar"]
    if hooks:
        raise HttpError(409, "a webhook already exists for this client")
    await _ping(ctx, body["url"])
    hook = {"id": secrets.token_hex(8), "events": body["events"], "url": body["url"],
            "signature_secret_key": secrets.token_hex(16), "active": True}
    hooks.append(hook)
    return JSONResponse({"data": hook}, 201)


def _public(hook: dict[str, Any]) -> dict[str, Any]:
    return {k: hook[k] for k in ("id", "events", "url", "active")}


async def _webhook_list(ctx: Ctx) -> Response:
    _client_basic(ctx)
    return JSONResponse({"data": [_public(h) for h in ctx.state.subscriptions["polar"]]})


async def _webhook_activate(ctx: Ctx) -> Response:
    _client_basic(ctx)
    for hook in ctx.state.subscriptions["polar"]:
        hook["active"] = True
    return Response(status_code=204)


async def _webhook_change(ctx: Ctx) -> Response:
    _client_basic(ctx)
    hooks = ctx.state.subscriptions["polar"]
    hook = next((h for h in hooks if h["id"] == ctx.request.path_params["hook_id"]), None)
    if hook is None:
        raise HttpError(404, "webhook not found")
    if ctx.request.method == "DELETE":
        hooks.remove(hook)
        return Response(status_code=204)
    body = _webhook_body(ctx)
    if isinstance(body.get("url"), str) and body["url"] != hook["url"]:
        await _ping(ctx, body["url"])
        hook["url"] = body["url"]
    if body.get("events"):
        hook["events"] = body["events"]
    return JSONResponse({"data": _public(hook)})
