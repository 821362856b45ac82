"""Oura API v2: usercollection documents, heart rate time series, webhook subscriptions."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, HttpError, route
from sandbox.outbound import call_callback
from sandbox.paging import decode_cursor, encode_cursor, page
from sandbox.state import Record, SimState, SimUser
from sandbox.timefmt import iso_offset, parse_date, parse_datetime, utc
from sandbox.timeline import Timeline

DOCUMENTS = {"daily_sleep": "daily", "daily_readiness": "daily", "daily_activity": "daily",
             "daily_spo2": "spo2Daily", "sleep": "daily", "workout": "workout"}
DATA_TYPES = {"tag", "enhanced_tag", "workout", "session", "sleep", "daily_sleep",
              "daily_readiness", "daily_activity", "daily_spo2", "sleep_time", "rest_mode_period",
              "ring_configuration", "daily_stress", "daily_cardiovascular_age",
              "daily_resilience", "vo2_max", "meal"}
EVENT_TYPES = {"create", "update", "delete"}
SUBSCRIPTION_TTL_S = 30 * 86_400


def user_id(seed: int) -> str:
    return f"oura-{seed:06d}"


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    off = tl.offset_s
    out: dict[str, list[Record]] = {k: [] for k in DOCUMENTS}
    for index, day in enumerate(tl.days):
        d = day.day.isoformat()
        stamp = iso_offset(day.local_midnight, off)
        night = next(n for n in tl.nights if n.day == day.day and not n.nap)
        out["daily_sleep"].append(_doc(tl, day.local_midnight, {
            "day": d, "score": night.score, "timestamp": stamp, "contributors": {
                "deep_sleep": 70 + night.deep_s % 25, "efficiency": night.efficiency,
                "latency": 80, "rem_sleep": 75, "restfulness": 70, "timing": 85,
                "total_sleep": min(100, night.asleep_s // 300)}}))
        out["daily_readiness"].append(_doc(tl, day.local_midnight, {
            "day": d, "score": day.readiness, "timestamp": stamp,
            "temperature_deviation": night.temp_dev,
            "temperature_trend_deviation": round(night.temp_dev / 2, 2), "contributors": {
                "activity_balance": 80, "body_temperature": 90, "hrv_balance": 75,
                "previous_day_activity": 70, "previous_night": night.score,
                "recovery_index": 85, "resting_heart_rate": 88, "sleep_balance": 79}}))
        out["daily_activity"].append(_doc(tl, day.local_midnight, {
            "day": d, "score": min(100, 50 + day.steps // 300), "timestamp": stamp,
            "steps": day.steps, "active_calories": day.active_kcal,
            "total_calories": day.total_kcal, "equivalent_walking_distance": day.distance_m,
            "high_activity_time": 1200, "medium_activity_time": 2400,
            "low_activity_time": 14_400,
            "met": {"interval": 3600.0, "items": [1.2] * 24, "timestamp": stamp},
            "class_5_min": "".join("12345"[(i + index) % 5] for i in range(288))}))
        out["daily_spo2"].append(_doc(tl, day.local_midnight, {
            "day": d, "spo2_percentage": {"average": night.spo2},
            "breathing_disturbance_index": index % 7}))
    for night in tl.nights:
        hr_items = [tl.heart_rate(t) for t in tl.sample_times(night.start, night.end, 300)]
        out["sleep"].append(_doc(tl, night.start, {
            "day": night.day.isoformat(), "bedtime_start": iso_offset(night.start, off),
            "bedtime_end": iso_offset(night.end, off),
            "type": "late_nap" if night.nap else "long_sleep",
            "average_heart_rate": float(night.avg_hr), "lowest_heart_rate": night.low_hr,
            "average_hrv": night.hrv_ms, "average_breath": night.breath,
            "total_sleep_duration": night.asleep_s, "deep_sleep_duration": night.deep_s,
            "light_sleep_duration": night.light_s, "rem_sleep_duration": night.rem_s,
            "awake_time": night.awake_s, "time_in_bed": night.in_bed_s,
            "latency": night.latency_s, "efficiency": night.efficiency,
            "heart_rate": {"interval": 300.0, "items": hr_items,
                           "timestamp": iso_offset(night.start, off)},
            "hrv": {"interval": 300.0, "items": [night.hrv_ms] * len(hr_items),
                    "timestamp": iso_offset(night.start, off)},
            "sleep_phase_5_min": "".join("4122312" [i % 7] for i in range(len(hr_items))),
            "readiness": None if night.nap else {"score": night.score,
                                                  "temperature_deviation": night.temp_dev}}))
    for w in tl.workouts:
        out["workout"].append(_doc(tl, w.start, {
            "activity": w.sport, "calories": float(w.kcal), "distance": float(w.distance_m),
            "start_datetime": iso_offset(w.start, off), "end_datetime": iso_offset(w.end, off),
            "intensity": "moderate", "source": "autodetected", "label": None,
            "day": utc(w.start + off).date().isoformat()}))
    start, end = tl.span
    out["heartrate"] = [
        Record(str(int(t)), t, t, {
            "bpm": tl.heart_rate(t),
            "source": "sleep" if any(n.start <= t < n.end for n in tl.nights) else "awake",
            "timestamp": utc(t).isoformat(), "timestamp_unix": int(t * 1000)})
        for t in tl.sample_times(start, end, 300)]
    out["personal_info"] = [Record(str(user.vendor_id), 0, 0, {
        "id": str(user.vendor_id), "age": 35, "weight": tl.days[-1].weight_kg, "height": 1.78,
        "biological_sex": "male", "email": f"{user.vendor_id}@example.test"})]
    return out


def _doc(tl: Timeline, start: float, fields: dict[str, Any]) -> Record:
    doc_id = tl.uuid()
    return Record(doc_id, start, start, {"id": doc_id, **fields})


def routes(state: SimState) -> list[Route]:
    prof = state.profile("oura")
    return [
        route(state, prof, "/v2/usercollection/personal_info", _personal_info, methods=["GET"]),
        route(state, prof, "/v2/usercollection/heartrate", _heartrate, methods=["GET"]),
        route(state, prof, "/v2/usercollection/{kind}", _documents, methods=["GET"]),
        route(state, prof, "/v2/usercollection/{kind}/{doc_id}", _document, methods=["GET"]),
        route(state, prof, "/v2/webhook/subscription", _sub_create, methods=["POST"],
              auth=False, limited=False),
        route(state, prof, "/v2/webhook/subscription", _sub_list, methods=["GET"], auth=False,
              limited=False),
        route(state, prof, "/v2/webhook/subscription/renew/{sub_id}", _sub_renew,
              methods=["PUT"], auth=False, limited=False),
        route(state, prof, "/v2/webhook/subscription/{sub_id}", _sub_one,
              methods=["GET", "PUT", "DELETE"], auth=False, limited=False),
    ]


def _require_scope(ctx: Ctx, scope: str) -> None:
    assert ctx.token is not None
    granted = ctx.token.family.scopes
    if granted and scope not in granted and not (scope == "spo2Daily" and "spo2" in granted):
        raise HttpError(403, f"token lacks the {scope} scope")


async def _personal_info(ctx: Ctx) -> Response:
    assert ctx.token is not None
    return JSONResponse(ctx.state.raw_records("oura", "personal_info",
                                              ctx.token.family.user_key)[0].data)


async def _documents(ctx: Ctx) -> Response:
    kind = ctx.request.path_params["kind"]
    if kind not in DOCUMENTS:
        raise HttpError(404, f"unknown collection {kind}")
    _require_scope(ctx, DOCUMENTS[kind])
    q = ctx.query
    first = parse_date(q["start_date"], "start_date") if q.get("start_date") else None
    last = parse_date(q["end_date"], "end_date") if q.get("end_date") else None
    assert ctx.token is not None
    records = [r for r in ctx.state.raw_records("oura", kind, ctx.token.family.user_key)
               if (first is None or r.data["day"] >= first.isoformat())
               # A date-only end_date is read as that day's midnight: documents are stamped
               # later that day (04:00 local), so the end day is not returned.
               and (last is None or r.data["day"] < last.isoformat())]
    records.sort(key=lambda r: (r.start, r.id))
    return _paged(ctx, records, ctx.state.page_sizes["oura"])


async def _heartrate(ctx: Ctx) -> Response:
    _require_scope(ctx, "heartrate")
    q = ctx.query
    start = parse_datetime(q["start_datetime"], "start_datetime") \
        if q.get("start_datetime") else None
    end = parse_datetime(q["end_datetime"], "end_datetime") if q.get("end_datetime") else None
    assert ctx.token is not None
    records = [r for r in ctx.state.raw_records("oura", "heartrate", ctx.token.family.user_key)
               if (start is None or r.start >= start) and (end is None or r.start < end)]
    records.sort(key=lambda r: r.start)
    if q.get("latest") in ("true", "1"):
        records = records[-1:]
    return _paged(ctx, records, ctx.state.page_sizes["oura.heartrate"])


def _paged(ctx: Ctx, records: list[Record], size: int) -> Response:
    chunk, following = page(records, decode_cursor(ctx.query.get("next_token"), "next_token"),
                            size)
    fields = [f for f in ctx.query.get("fields", "").split(",") if f]
    data = [{k: v for k, v in r.data.items() if not fields or k in fields} for r in chunk]
    return JSONResponse({"data": data, "next_token": encode_cursor(following)
                         if following is not None else None})


async def _document(ctx: Ctx) -> Response:
    kind, doc_id = ctx.request.path_params["kind"], ctx.request.path_params["doc_id"]
    if kind not in DOCUMENTS:
        raise HttpError(404, f"unknown collection {kind}")
    assert ctx.token is not None
    for rec in ctx.state.raw_records("oura", kind, ctx.token.family.user_key):
        if rec.id == doc_id:
            return JSONResponse(rec.data)
    raise HttpError(404, f"{kind} document {doc_id} not found")


# --- webhook subscriptions (app credentials in x-client-id / x-client-secret) ----------------

def _app_auth(ctx: Ctx) -> None:
    client = ctx.state.client("oura")
    if not (hmac.compare_digest(ctx.header("x-client-id") or "", client.client_id)
            and hmac.compare_digest(ctx.header("x-client-secret") or "", client.client_secret)):
        raise HttpError(401, "x-client-id / x-client-secret required")


def _public(sub: dict[str, Any]) -> dict[str, Any]:
    return {k: sub[k] for k in ("id", "callback_url", "event_type", "data_type",
                                "expiration_time")}


async def _sub_create(ctx: Ctx) -> Response:
    _app_auth(ctx)
    body = ctx.json()
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in (
            "callback_url", "verification_token", "event_type", "data_type")):
        raise HttpError(422, "callback_url, verification_token, event_type, data_type required")
    if body["event_type"] not in EVENT_TYPES or body["data_type"] not in DATA_TYPES:
        raise HttpError(422, "unknown event_type or data_type")
    subs = ctx.state.subscriptions["oura"]
    if any((s["event_type"], s["data_type"]) == (body["event_type"], body["data_type"])
           for s in subs):
        raise HttpError(409, "subscription for this event_type and data_type exists")
    challenge = secrets.token_urlsafe(12)
    answer = await call_callback(ctx.state, "GET", body["callback_url"], params={
        "verification_token": body["verification_token"], "challenge": challenge})
    if answer is not None:
        try:
            ok = answer.status_code == 200 and answer.json().get("challenge") == challenge
        except ValueError:
            ok = False
        if not ok:
            raise HttpError(400, "callback verification failed")
    sub = {"id": secrets.token_hex(16), "callback_url": body["callback_url"],
           "event_type": body["event_type"], "data_type": body["data_type"],
           "verification_token": body["verification_token"],
           "expiration_time": _expiry(ctx)}
    subs.append(sub)
    return JSONResponse(_public(sub), 201)


def _expiry(ctx: Ctx) -> str:
    return (utc(ctx.state.now()) + timedelta(seconds=SUBSCRIPTION_TTL_S)).isoformat()


async def _sub_list(ctx: Ctx) -> Response:
    _app_auth(ctx)
    return JSONResponse([_public(s) for s in ctx.state.subscriptions["oura"]])


def _find(ctx: Ctx) -> dict[str, Any]:
    wanted = ctx.request.path_params["sub_id"]
    for sub in ctx.state.subscriptions["oura"]:
        if sub["id"] == wanted:
            return sub
    raise HttpError(404, f"subscription {wanted} not found")


async def _sub_renew(ctx: Ctx) -> Response:
    _app_auth(ctx)
    sub = _find(ctx)
    sub["expiration_time"] = _expiry(ctx)
    ctx.state.counters["oura.subscription_renewals"] += 1
    return JSONResponse(_public(sub))


async def _sub_one(ctx: Ctx) -> Response:
    _app_auth(ctx)
    sub = _find(ctx)
    if ctx.request.method == "DELETE":
        ctx.state.subscriptions["oura"].remove(sub)
        return Response(status_code=204)
    if ctx.request.method == "PUT":
        body = ctx.json()
        if not isinstance(body, dict):
            raise HttpError(422, "JSON object expected")
        for key in ("callback_url", "verification_token", "event_type", "data_type"):
            if isinstance(body.get(key), str):
                sub[key] = body[key]
    return JSONResponse(_public(sub))
