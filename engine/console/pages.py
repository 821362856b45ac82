"""The console's pages (GET) and actions (POST, each after a confirmation page).

Actions call the same services the API's handlers call: the sync service plans and cancels
syncs, the OAuth flows disconnect, the store retries jobs, the outbound service replays.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.auth.flows import check_user_id
from engine.console import views
from engine.console.render import engine_of, form_of, guarded, page, see_other
from engine.console.samples import CHARTS, DEFAULT_RANGE, RANGES, build_series, read_samples
from engine.errors import BadRequest, EngineError, NotFound
from engine.outbound.endpoints import describe as describe_endpoint


def parse_day(value: str, name: str) -> datetime:
    """A form's YYYY-MM-DD (a date input's value) as midnight UTC."""
    try:
        day = date.fromisoformat(value.strip()) if len(value.strip()) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD)", code="invalid_body")
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _confirm(request: Request, title: str, question: str, fields: dict[str, str], back: str) -> Response:
    """The confirmation step of an action: the same form again, with confirm=yes."""
    return page(request, "confirm.html", title=title, question=question, action=request.url.path,
                fields=fields, back=back)


def _confirmed(request: Request) -> bool:
    return form_of(request).get("confirm") == "yes"


# ------------------------------------------------------------------ vendors


@guarded
async def home(request: Request) -> Response:
    return see_other("/console/vendors")


@guarded
async def vendors_page(request: Request) -> Response:
    engine = engine_of(request)
    rates = request.app.state.__dict__.setdefault("console_rates", {})
    return page(request, "vendors.html", title="Vendors", vendors=await views.vendor_rows(engine, rates))


# ------------------------------------------------------------------ connections


@guarded
async def connections_page(request: Request) -> Response:
    query = request.query_params.get("q", "").strip()[:256]
    rows, total = await views.connection_rows(engine_of(request), query)
    return page(request, "connections.html", title="Connections", rows=rows, total=total, q=query,
                today=datetime.fromtimestamp(engine_of(request).clock(), UTC).date().isoformat())


def _connection_path(request: Request) -> tuple[str, str]:
    vendor = str(request.path_params["vendor"])[:64]
    user_id = check_user_id(str(request.path_params["user_id"]))
    engine_of(request).spec(vendor)
    return vendor, user_id


@guarded
async def sync_action(request: Request) -> Response:
    vendor, user_id = _connection_path(request)
    form = form_of(request)
    since = parse_day(form.get("since", ""), "since")
    until = parse_day(form["until"], "until") if form.get("until") else None
    if not _confirmed(request):
        fields = {"since": form.get("since", ""), "until": form.get("until", "")}
        span = f"from {since:%Y-%m-%d %H:%M} UTC" + (f" to {until:%Y-%m-%d %H:%M} UTC" if until else " to now")
        return _confirm(request, "Start a sync", f"Backfill {user_id}'s {vendor} data {span}?", fields,
                        "/console/connections")
    plan = await engine_of(request).sync.plan(vendor, user_id, since=since, until=until)
    return see_other(f"/console/syncs/{quote(plan.sync.sync_id)}")


@guarded
async def disconnect_action(request: Request) -> Response:
    vendor, user_id = _connection_path(request)
    if not _confirmed(request):
        return _confirm(request, "Disconnect", f"Disconnect {user_id} from {vendor}? The engine revokes the "
                        "access at the vendor where it can and deletes the tokens.", {}, "/console/connections")
    await engine_of(request).oauth.disconnect(vendor, user_id)
    return see_other(f"/console/connections?q={quote(user_id)}")


# ------------------------------------------------------------------ jobs and syncs


@guarded
async def jobs_page(request: Request) -> Response:
    engine = engine_of(request)
    counts, lists = await views.job_lists(engine)
    kinds = {state: sorted({job.kind for job in lists[state]}) for state in ("failed", "dead")}
    return page(request, "jobs.html", title="Jobs", counts=counts, lists=lists, kinds=kinds,
                syncs=await views.active_syncs(engine, lists))


@guarded
async def retry_action(request: Request) -> Response:
    store = engine_of(request).store
    job_id = str(request.path_params["job_id"])[:128]
    job = await store.get_job(job_id)
    if job is None:
        raise NotFound("no job with this id", code="job_not_found")
    if not _confirmed(request):
        return _confirm(request, "Retry a job", f"Run {job.kind} job {job.id} ({job.state}) again?", {},
                        "/console/jobs")
    if job.state not in ("failed", "dead") or not await store.retry_job(job_id):
        raise EngineError(f"only failed or dead jobs can be retried; this one is {job.state}",
                          code="job_not_retryable", status=409)
    return see_other("/console/jobs")


@guarded
async def retry_all_action(request: Request) -> Response:
    store = engine_of(request).store
    form = form_of(request)
    kind, state = form.get("kind", "")[:64], form.get("state", "")
    if state not in ("failed", "dead") or not kind:
        raise BadRequest("retry all needs a kind and the state failed or dead", code="invalid_body")
    if not _confirmed(request):
        return _confirm(request, "Retry jobs", f"Run every {state} {kind} job again?", {"kind": kind, "state": state},
                        "/console/jobs")
    retried = 0
    after: str | None = None
    while True:
        jobs = await store.list_jobs(state=state, kind=kind, limit=500, after_id=after)
        for job in jobs:
            retried += await store.retry_job(job.id)
        if len(jobs) < 500:
            break
        after = jobs[-1].id
    return see_other(f"/console/jobs?retried={retried}")


async def _sync_of(request: Request) -> dict[str, Any]:
    engine = engine_of(request)
    sync = await engine.store.get_sync(str(request.path_params["sync_id"])[:128])
    if sync is None:
        raise NotFound("no sync with this id", code="sync_not_found")
    return await views.progress(engine, sync)


@guarded
async def sync_page(request: Request) -> Response:
    described = await _sync_of(request)
    return page(request, "sync.html", title=f"Sync {described['sync_id']}", sync=described)


@guarded
async def sync_progress(request: Request) -> Response:
    return JSONResponse(await _sync_of(request), headers={"Cache-Control": "no-store"})


@guarded
async def cancel_action(request: Request) -> Response:
    sync_id = str(request.path_params["sync_id"])[:128]
    if not _confirmed(request):
        return _confirm(request, "Cancel a sync", f"Cancel sync {sync_id}? Its queued windows are dropped; "
                        "samples already stored stay.", {}, f"/console/syncs/{quote(sync_id)}")
    await engine_of(request).sync.cancel(sync_id)
    return see_other(f"/console/syncs/{quote(sync_id)}")


# ------------------------------------------------------------------ samples


@guarded
async def samples_index(request: Request) -> Response:
    user = request.query_params.get("user", "").strip()
    if user:
        return see_other(f"/console/users/{quote(check_user_id(user), safe='')}/samples")
    users = sorted({c.user_id for c in await engine_of(request).store.list_connections()})
    return page(request, "samples_index.html", title="Samples", users=users)


@guarded
async def samples_page(request: Request) -> Response:
    engine = engine_of(request)
    user_id = check_user_id(str(request.path_params["user_id"]))
    sample_type = request.query_params.get("type", "heart_rate")
    range_name = request.query_params.get("range", DEFAULT_RANGE)
    if sample_type not in CHARTS:
        raise BadRequest(f"type must be one of {', '.join(CHARTS)}", code="invalid_query")
    if range_name not in RANGES and range_name != "all":
        raise BadRequest(f"range must be one of {', '.join([*RANGES, 'all'])}", code="invalid_query")
    until = datetime.fromtimestamp(engine.clock(), UTC)
    since = None if range_name == "all" else until - RANGES[range_name]
    chart = CHARTS[sample_type]
    samples, truncated = await read_samples(engine, user_id, sample_type, since, None if range_name == "all" else until)
    series = build_series(chart, samples)
    series.truncated = truncated
    return page(request, "samples.html", title=f"Samples of {user_id}", user_id=user_id, chart=chart,
                charts=CHARTS, series=series, range_name=range_name, ranges=[*RANGES, "all"])


# ------------------------------------------------------------------ outbound


@guarded
async def outbound_page(request: Request) -> Response:
    store = engine_of(request).store
    endpoints = [describe_endpoint(e) for e in await store.list_endpoints()]
    recent = await store.list_deliveries(limit=50)
    failures = await store.list_deliveries(state="failed", limit=50)
    return page(request, "outbound.html", title="Outbound", endpoints=endpoints, recent=recent, failures=failures)


@guarded
async def replay_action(request: Request) -> Response:
    engine = engine_of(request)
    endpoint_id = str(request.path_params["endpoint_id"])[:128]
    form = form_of(request)
    since = parse_day(form.get("since", ""), "since")
    if not _confirmed(request):
        return _confirm(request, "Replay deliveries", f"Deliver every event since {since:%Y-%m-%d %H:%M} UTC "
                        f"to endpoint {endpoint_id} again?", {"since": form.get("since", "")}, "/console/outbound")
    queued = await engine.outbound.endpoints.replay(endpoint_id, since=since.timestamp())
    engine.outbound.deliverer.wake()
    return see_other(f"/console/outbound?replayed={queued}")

