"""The request pipeline every simulated endpoint shares: call log, delays, faults, bearer auth,
rate limits and the vendor's error dialect."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import ratelimit
from sandbox.profiles import Profile, Window
from sandbox.state import AccessToken, Call, SimState, SimUser
from sandbox.timefmt import BadParam

log = logging.getLogger("sandbox")


class HttpError(Exception):
    """Abort a handler with a vendor-dialect error."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 vendor_status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.vendor_status = vendor_status


@dataclass
class Ctx:
    state: SimState
    profile: Profile
    request: Request
    path: str
    query: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)
    token: AccessToken | None = None
    user: SimUser | None = None

    @property
    def params(self) -> dict[str, str]:
        """Query and form parameters together (Withings accepts either)."""
        return {**self.query, **self.form}

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise HttpError(400, "request body is not valid JSON") from None

    def require(self, name: str) -> str:
        value = self.params.get(name)
        if not value:
            raise BadParam(f"{name} is required")
        return value

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)


Handler = Callable[[Ctx], Awaitable[Response]]


def error(profile: Profile, status: int, message: str, *, code: str | None = None,
          vendor_status: int | None = None) -> Response:
    if profile.name == "withings":
        mapped = vendor_status or {400: 201, 401: 401, 403: 2555, 404: 2554, 409: 201}.get(
            status, 522)
        return JSONResponse({"status": mapped, "body": {}, "error": message})
    if profile.name == "google_health":
        return JSONResponse({"error": {"code": status, "message": message,
                                       "status": code or "INVALID_ARGUMENT"}}, status)
    if profile.name == "fitbit":
        return JSONResponse({"errors": [{"errorType": code or "validation", "message": message}],
                             "success": False}, status)
    body: dict[str, Any] = {"error": code or _default_code(status), "message": message}
    if status == 401:
        return JSONResponse(body, status, {"WWW-Authenticate": "Bearer"})
    return JSONResponse(body, status)


def _default_code(status: int) -> str:
    return {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            409: "conflict", 422: "unprocessable_entity"}.get(status, "error")


def bearer(request: Request, params: dict[str, str]) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return params.get("access_token")


async def sleep_unless_closing(state: SimState, seconds: float) -> None:
    waited = 0.0
    while waited < seconds and not state.closing.is_set():
        step = min(0.05, seconds - waited)
        await asyncio.sleep(step)
        waited += step


def route(state: SimState, profile: Profile, path: str, handler: Handler, *,
          methods: list[str], auth: bool = True, limited: bool = True) -> Route:
    """A Starlette route running `handler` through the shared pipeline."""

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        sub_path = request.url.path[len(profile.prefix):] or "/"
        query = dict(request.query_params)
        call = Call(profile.name, request.method, sub_path, query,
                    {k.lower(): v for k, v in request.headers.items()}, body)
        state.calls.append(call)
        response = await _run(state, profile, request, sub_path, query, body, handler, auth,
                              limited)
        call.status = response.status_code
        return response

    return Route(profile.prefix + path, endpoint, methods=methods)


async def _run(state: SimState, profile: Profile, request: Request, sub_path: str,
               query: dict[str, str], body: bytes, handler: Handler, auth: bool,
               limited: bool) -> Response:
    delay = state.delay_for(profile.name, sub_path)
    if delay:
        await sleep_unless_closing(state, delay)
    fault = state.take_fault(profile.name, sub_path)
    if fault is not None:
        if fault.kind == "timeout":
            await sleep_unless_closing(state, fault.seconds)
        else:
            return _fault_response(profile, fault)
    form = _form(request, body)
    ctx = Ctx(state, profile, request, sub_path, query, body, form)
    try:
        if auth:
            ctx.token = state.valid_access(profile.name, bearer(request, ctx.params))
            if ctx.token is None:
                return error(profile, 401, "missing, expired or revoked access token",
                             code="invalid_token")
            ctx.user = state.users[profile.name].get(ctx.token.family.user_key)
        if not limited:
            return await handler(ctx)
        verdict = ratelimit.check(state, profile.name, ctx.token.family.user_key
                                  if ctx.token else None, ctx.token.token if ctx.token else None)
        if not verdict.allowed:
            return ratelimit.rejection(profile.rate_dialect, verdict, state.now())
        response = await handler(ctx)
        response.headers.update(ratelimit.headers(profile.rate_dialect, verdict, state.now()))
        return response
    except BadParam as exc:
        return error(profile, 400, str(exc), code="invalid_request")
    except HttpError as exc:
        return error(profile, exc.status, exc.message, code=exc.code,
                     vendor_status=exc.vendor_status)
    except Exception:  # a simulator bug: make it loud but keep serving
        log.exception("simulator handler failed for %s %s", profile.name, sub_path)
        return JSONResponse({"error": "simulator_bug"}, 500)


def _form(request: Request, body: bytes) -> dict[str, str]:
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def _fault_response(profile: Profile, fault: Any) -> Response:
    if fault.kind == "unavailable":
        return JSONResponse({"error": "service_unavailable"}, fault.status,
                            {"Retry-After": str(fault.retry_after)})
    if fault.kind == "server_error":
        return JSONResponse({"error": "internal_error"}, fault.status)
    if fault.kind == "malformed_json":
        return Response(b'{"records": [{"id": "trunc', 200, media_type="application/json")
    if fault.kind == "unauthorized":
        return error(profile, 401, "access token expired", code="invalid_token")
    verdict = ratelimit.Verdict(False, [ratelimit.WindowUse(
        profile.windows[0] if profile.windows else Window(1, fault.retry_after),
        1, 1, float(fault.retry_after))], None)
    response = ratelimit.rejection(profile.rate_dialect, verdict, 0.0)
    if profile.rate_dialect != "withings":
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


def json_response(payload: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status)
