"""Fixed-window rate limits per profile and each vendor's header dialect."""

from __future__ import annotations

import math
from dataclasses import dataclass

from starlette.responses import JSONResponse, PlainTextResponse, Response

from sandbox.profiles import Window
from sandbox.state import SimState


@dataclass
class WindowUse:
    window: Window
    limit: int
    used: int  # including the current request when it was admitted
    reset_at: float

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


@dataclass
class Verdict:
    allowed: bool
    uses: list[WindowUse]
    blocking: WindowUse | None


def check(state: SimState, profile: str, user_key: str | None, token: str | None) -> Verdict:
    windows = state.limits.get(profile, ())
    if not state.rate_limits_enabled or not windows:
        return Verdict(True, [], None)
    now = state.now()
    registered = sum(1 for u in state.users[profile].values() if u.registered)
    with state.lock:
        uses: list[WindowUse] = []
        keys = []
        for index, window in enumerate(windows):
            scope_key = {"app": "app", "user": user_key or "-", "token": token or "-"}[window.scope]
            start = math.floor(now / window.window_s) * window.window_s
            key = (profile, index, scope_key, start)
            limit = window.requests + _per_user_allowance(profile, window, registered)
            uses.append(WindowUse(window, limit, state.limit_hits.get(key, 0),
                                  start + window.window_s))
            keys.append(key)
        blocking = next((u for u in uses if u.used >= u.limit), None)
        counts_rejected = profile == "strava"  # short-window violations count toward the day
        if blocking is None or counts_rejected:
            for key, use in zip(keys, uses, strict=True):
                state.limit_hits[key] = state.limit_hits.get(key, 0) + 1
                use.used += 1
        if blocking is not None:
            state.counters[f"{profile}.429"] += 1
        return Verdict(blocking is None, uses, blocking)


def _per_user_allowance(profile: str, window: Window, registered_users: int) -> int:
    if profile != "polar":
        return 0
    return {"15min": 20, "24h": 100}.get(window.name, 0) * registered_users


def headers(dialect: str, verdict: Verdict, now: float) -> dict[str, str]:
    """Headers a vendor attaches to every (admitted or rejected) API response."""
    if not verdict.uses:
        return {}
    closest = verdict.blocking or min(verdict.uses, key=lambda u: u.remaining)
    reset_in = str(max(1, math.ceil(closest.reset_at - now)))
    if dialect == "whoop":
        policies = ", ".join(f"{u.limit};window={u.window.window_s}" for u in verdict.uses)
        return {"X-RateLimit-Limit": f"{closest.limit}, {policies}",
                "X-RateLimit-Remaining": str(closest.remaining), "X-RateLimit-Reset": reset_in}
    if dialect == "fitbit":
        return {"Fitbit-Rate-Limit-Limit": str(closest.limit),
                "Fitbit-Rate-Limit-Remaining": str(closest.remaining),
                "Fitbit-Rate-Limit-Reset": reset_in}
    if dialect == "polar":
        return {"RateLimit-Usage": str(closest.used), "RateLimit-Limit": str(closest.limit),
                "RateLimit-Reset": reset_in}
    if dialect == "strava":
        return _strava_headers(verdict)
    return {}


def _strava_headers(verdict: Verdict) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, header in (("overall", "X-RateLimit"), ("read", "X-ReadRateLimit")):
        group = [u for u in verdict.uses if u.window.name == name]
        if group:
            out[f"{header}-Limit"] = ",".join(str(u.limit) for u in group)
            out[f"{header}-Usage"] = ",".join(str(u.used) for u in group)
    if not out:  # a scaled-down single window
        out["X-RateLimit-Limit"] = ",".join(str(u.limit) for u in verdict.uses)
        out["X-RateLimit-Usage"] = ",".join(str(u.used) for u in verdict.uses)
    return out


def rejection(dialect: str, verdict: Verdict, now: float) -> Response:
    """The vendor's answer when a limit is exceeded."""
    blocking = verdict.blocking or verdict.uses[0]
    retry_after = str(max(1, math.ceil(blocking.reset_at - now)))
    common = headers(dialect, verdict, now)
    if dialect == "withings":
        return JSONResponse({"status": 601, "body": {}, "error": "Too many requests"})
    if dialect == "oura":
        tier = blocking.window.name or blocking.window.scope
        common.update({"Retry-After": retry_after, "X-RateLimit-Limit": str(blocking.limit),
                       "X-RateLimit-Window": str(blocking.window.window_s),
                       "X-RateLimit-Reset": str(int(blocking.reset_at)),
                       "X-RateLimit-Tier": tier})
        return JSONResponse({"detail": "Rate limit exceeded"}, 429, common)
    if dialect == "strava":
        return JSONResponse({"message": "Rate Limit Exceeded", "errors": [
            {"resource": "Application", "field": "rate limit", "code": "exceeded"}]}, 429, common)
    if dialect == "google":
        return JSONResponse({"error": {"code": 429, "message": "Quota exceeded",
                                       "status": "RESOURCE_EXHAUSTED"}}, 429, common)
    if dialect == "fitbit":
        common["Retry-After"] = retry_after
        return JSONResponse({"errors": [{"errorType": "system", "fieldName": "n/a",
                                         "message": "Too Many Requests"}]}, 429, common)
    if dialect in ("dexcom", "plain"):
        return PlainTextResponse("Too Many Requests", 429)
    return JSONResponse({"error": "too_many_requests"}, 429, common)
