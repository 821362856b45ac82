"""Suunto Cloud API behind Azure API Management: every call needs the app's
`Ocp-Apim-Subscription-Key`; access tokens are JWTs naming the user (`sub`) and the username
(`user`) that webhooks use; workouts (`/v3/workouts/`, since + limit/offset, `{payload: [...]}`) and
24/7 sleep and recovery entries (epoch-millisecond `from`/`to`, at most 28 days). Webhooks are
hex HMAC-SHA256 of the raw body with the app's notification secret (sandbox/webhooks.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, HttpError, route
from sandbox.state import PORTAL_SECRETS, Record, SimState, SimUser
from sandbox.timefmt import BadParam, parse_int, utc
from sandbox.timeline import Timeline

ACTIVITY_IDS = {"walking": 0, "running": 3, "cycling": 2, "swimming": 21, "strength": 12}
MAX_247_RANGE_MS = 28 * 86_400_000


def user_id(seed: int) -> str:
    return f"suunto-user-{seed}"


def subject(username: str) -> str:
    return hashlib.sha1(f"suunto-sub:{username}".encode()).hexdigest()[:24]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_token_jwt(signing_key: str, username: str, issued: float, expires: float) -> str:
    """An HS256 JWT access token with the claims Suunto's carry (`sub`, `user`, `exp`)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"sub": subject(username), "user": username, "iat": int(issued),
                              "exp": int(expires), "jti": secrets.token_hex(8)}).encode())
    signature = _b64(hmac.new(signing_key.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest())
    return f"{header}.{claims}.{signature}"


def _iso(ts: float) -> str:
    return utc(ts).strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    workouts = []
    for index, w in enumerate(tl.workouts):
        key = hashlib.md5(f"{user.key}:{index}".encode()).hexdigest()[:24]
        workouts.append(Record(key, w.start, w.end, {
            "workoutId": 63_000_000 + user.seed * 1000 + index, "workoutKey": key,
            "activityId": ACTIVITY_IDS[w.sport], "startTime": int(w.start * 1000),
            "stopTime": int(w.end * 1000), "totalTime": float(w.end - w.start),
            "totalDistance": float(w.distance_m), "energyConsumption": w.kcal,
            "avgSpeed": round(w.distance_m / max(1.0, w.end - w.start), 2),
            "hrdata": {"avg": w.avg_hr, "hrmax": w.max_hr, "max": 195, "min": w.avg_hr - 40},
            "gear": {"displayName": "Suunto Race", "name": "Suunto Race", "swVersion": "2.41.20"}}))
    sleeps, recoveries = [], []
    for night in tl.nights:
        sleep_id = int(night.start)
        sleeps.append(Record(str(sleep_id), night.start, night.end, {
            "timestamp": _iso(night.end), "entryData": {
                "BedtimeStart": _iso(night.start), "BedtimeEnd": _iso(night.end),
                "Duration": night.in_bed_s, "DeepSleepDuration": night.deep_s,
                "LightSleepDuration": night.light_s, "REMSleepDuration": night.rem_s,
                "HRAvg": night.avg_hr, "HRMin": night.low_hr, "AvgHRV": night.hrv_ms,
                "MaxSpo2": night.spo2, "IsNap": night.nap, "SleepId": sleep_id,
                "SleepQualityScore": night.score}}))
        if not night.nap:
            recoveries.append(Record(f"r{int(night.end)}", night.end, night.end, {
                "timestamp": _iso(night.end),
                "entryData": {"Balance": round(night.score / 100, 2), "StressState": 1}}))
    return {"workouts": workouts, "sleep": sleeps, "recovery": recoveries}


def routes(state: SimState) -> list[Route]:
    prof = state.profile("suunto")
    return [route(state, prof, "/v3/workouts/", _workouts, methods=["GET"]),
            route(state, prof, "/v3/workouts/{key}", _workout, methods=["GET"]),
            route(state, prof, "/247samples/sleep", _samples("sleep"), methods=["GET"]),
            route(state, prof, "/247samples/recovery", _samples("recovery"), methods=["GET"])]


def _user_key(ctx: Ctx) -> str:
    if not hmac.compare_digest(ctx.header("ocp-apim-subscription-key") or "",
                               PORTAL_SECRETS["SUUNTO_SUBSCRIPTION_KEY"]):
        raise HttpError(401, "Access denied due to missing or invalid subscription key. Make sure "
                             "to include subscription key when making requests to an API.")
    assert ctx.token is not None
    return ctx.token.family.user_key


async def _workouts(ctx: Ctx) -> Response:
    user = _user_key(ctx)
    since = parse_int(ctx.query.get("since"), "since", 0)
    limit = parse_int(ctx.query.get("limit"), "limit", 50)
    offset = parse_int(ctx.query.get("offset"), "offset", 0)
    if not 1 <= limit <= 100 or offset < 0:
        raise BadParam("limit must be 1 to 100 and offset not negative")
    # `since` in epoch seconds, as the open integrations send it
    items = sorted((r for r in ctx.state.raw_records("suunto", "workouts", user) if r.end >= since),
                   key=lambda r: r.start)
    chunk = [r.data for r in items[offset:offset + limit]]
    return JSONResponse({"error": None, "payload": chunk, "metadata": {"workoutcount": str(len(items))}})


async def _workout(ctx: Ctx) -> Response:
    user = _user_key(ctx)
    key = ctx.request.path_params["key"]
    for record in ctx.state.raw_records("suunto", "workouts", user):
        if record.id == key:
            return JSONResponse({"error": None, "payload": record.data})
    raise HttpError(404, f"workout {key} not found")


def _samples(resource: str):
    async def handler(ctx: Ctx) -> Response:
        user = _user_key(ctx)
        start = parse_int(ctx.query.get("from"), "from")
        end = parse_int(ctx.query.get("to"), "to")
        if end <= start or end - start > MAX_247_RANGE_MS:
            raise BadParam("from must be before to, at most 28 days apart (epoch ms)")
        items = [r.data for r in ctx.state.raw_records("suunto", resource, user)
                 if start <= r.start * 1000 < end]
        return JSONResponse(items)
    return handler


EVENT_TYPES = {"workouts": "WORKOUT_CREATED", "sleep": "SUUNTO_247_SLEEP_CREATED",
               "recovery": "SUUNTO_247_RECOVERY_CREATED"}


def notification(username: str, resource: str, record: Record) -> dict[str, Any]:
    body: dict[str, Any] = {"type": EVENT_TYPES[resource], "username": username}
    if resource == "workouts":
        body["workout"] = {k: record.data[k] for k in ("workoutKey", "activityId", "startTime", "totalTime")}
        body["gear"] = record.data["gear"]
    else:
        body["samples"] = [record.data]
    return body
