"""Wahoo Cloud API v1: the user, workouts with their summaries (newest first, page/per_page), the
permissions revoke. Webhooks: `workout_summary` events carrying the app's webhook token in the
body (sandbox/webhooks.py)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, HttpError, route
from sandbox.state import Record, SimState, SimUser
from sandbox.timefmt import BadParam, iso_z, parse_int
from sandbox.timeline import Timeline

# Wahoo workout type ids for the timeline's sports (0 biking, 1 running, 25 strength, 26 swimming
# per the Wahoo workout type table; walking is 9).
WORKOUT_TYPES = {"cycling": 0, "running": 1, "walking": 9, "strength": 25, "swimming": 26}


def user_id(seed: int) -> int:
    return 60_000 + seed


def _decimal(value: float) -> str:
    return f"{value:.2f}"


def dataset(user: SimUser, tl: Timeline) -> dict[str, list[Record]]:
    workouts = []
    for index, w in enumerate(tl.workouts):
        workout_id = int(user.vendor_id) * 1000 + index
        total = int(w.end - w.start)
        paused = min(120, total // 10)
        summary = {
            "id": workout_id + 500_000, "ascent_accum": _decimal(12.0 + index),
            "cadence_avg": _decimal(82.0), "calories_accum": _decimal(w.kcal),
            "distance_accum": _decimal(w.distance_m), "duration_active_accum": str(total - paused),
            "duration_paused_accum": str(paused), "duration_total_accum": str(total),
            "heart_rate_avg": str(w.avg_hr), "power_avg": _decimal(150.0),
            "speed_avg": _decimal(w.distance_m / max(1, total - paused)),
            "work_accum": str(150 * (total - paused)), "created_at": iso_z(w.end + 60),
            "updated_at": iso_z(w.end + 60),
            "file": {"url": f"https://cdn.wahooligan.com/uploads/workout_file/{workout_id}.fit"}}
        workouts.append(Record(str(workout_id), w.start, w.end, {
            "id": workout_id, "starts": iso_z(w.start), "minutes": total // 60,
            "name": f"{w.sport.title()} workout", "plan_id": None, "workout_token": str(index),
            "workout_type_id": WORKOUT_TYPES[w.sport], "workout_summary": summary,
            "created_at": iso_z(w.end + 30), "updated_at": iso_z(w.end + 30)}))
    uid = int(user.vendor_id)
    profile = {"id": uid, "height": "1.78", "weight": _decimal(tl.days[-1].weight_kg),
               "first": "Sim", "last": f"Rider{uid}", "email": f"rider{uid}@example.test",
               "birth": "1988-04-01", "gender": 0, "created_at": "2020-01-01T00:00:00.000Z",
               "updated_at": "2020-01-01T00:00:00.000Z"}
    return {"workouts": workouts, "user": [Record("user", 0, 0, profile)]}


def routes(state: SimState) -> list[Route]:
    prof = state.profile("wahoo")
    return [route(state, prof, "/v1/user", _user, methods=["GET"]),
            route(state, prof, "/v1/workouts", _workouts, methods=["GET"]),
            route(state, prof, "/v1/workouts/{workout_id:int}", _workout, methods=["GET"]),
            route(state, prof, "/v1/workouts/{workout_id:int}/workout_summary", _summary,
                  methods=["GET"])]


def _user_key(ctx: Ctx) -> str:
    assert ctx.token is not None
    return ctx.token.family.user_key


async def _user(ctx: Ctx) -> Response:
    return JSONResponse(ctx.state.raw_records("wahoo", "user", _user_key(ctx))[0].data)


async def _workouts(ctx: Ctx) -> Response:
    page = parse_int(ctx.query.get("page"), "page", 1)
    per_page = parse_int(ctx.query.get("per_page"), "per_page", 30)
    if page < 1 or not 1 <= per_page <= 100:
        raise BadParam("page must be at least 1 and per_page between 1 and 100")
    records = sorted(ctx.state.raw_records("wahoo", "workouts", _user_key(ctx)),
                     key=lambda r: r.start, reverse=True)
    chunk = records[(page - 1) * per_page:page * per_page]
    body: dict[str, Any] = {"workouts": [r.data for r in chunk], "total": len(records),
                            "page": page, "per_page": per_page, "order": "descending",
                            "sort": "starts"}
    return JSONResponse(body)


def _find(ctx: Ctx) -> Record:
    wanted = str(ctx.request.path_params["workout_id"])
    for record in ctx.state.raw_records("wahoo", "workouts", _user_key(ctx)):
        if record.id == wanted:
            return record
    raise HttpError(404, f"workout {wanted} not found")


async def _workout(ctx: Ctx) -> Response:
    return JSONResponse(_find(ctx).data)


async def _summary(ctx: Ctx) -> Response:
    summary = _find(ctx).data.get("workout_summary")
    if summary is None:
        raise HttpError(404, "this workout has no summary")
    return JSONResponse(summary)


def workout_summary_event(webhook_token: str, user: int, record: Record) -> dict[str, Any]:
    """The `workout_summary` webhook body: the summary with its workout inside."""
    workout = {k: v for k, v in record.data.items() if k != "workout_summary"}
    summary = dict(record.data["workout_summary"])
    summary["workout"] = workout
    return {"event_type": "workout_summary", "webhook_token": webhook_token, "user": {"id": user},
            "workout_summary": summary}
