"""Authorize, token and revoke endpoints in each vendor's OAuth dialect."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sandbox.http import Ctx, HttpError, bearer, route
from sandbox.profiles import Profile
from sandbox.state import AccessToken, AuthCode, AuthorizeRecord, RefreshToken, SimState

# (authorize path, token path) below each profile's prefix, mirroring the real URLs.
OAUTH_PATHS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "whoop": (("/oauth/oauth2/auth",), ("/oauth/oauth2/token",)),
    "oura": (("/oauth/authorize",), ("/oauth/token",)),
    "fitbit": (("/oauth2/authorize",), ("/oauth2/token",)),
    "google_health": (("/o/oauth2/v2/auth",), ("/token",)),
    "garmin": (("/oauth2Confirm",), ("/di-oauth2-service/oauth/token",)),
    "polar": (("/oauth2/authorization",), ("/v2/oauth2/token",)),
    "withings": (("/oauth2_user/authorize2",), ("/v2/oauth2",)),
    "strava": (("/oauth/authorize", "/oauth/mobile/authorize"),
               ("/oauth/token", "/api/v3/oauth/token")),
    "dexcom": (("/v2/oauth2/login",), ("/v2/oauth2/token",)),
    "wahoo": (("/oauth/authorize",), ("/oauth/token",)),
    "ultrahuman": (("/authorise",), ("/api/partners/oauth/token",)),
    "coros": (("/oauth2/authorize",), ("/oauth2/accesstoken", "/oauth2/refresh")),
    "suunto": (("/oauth/authorize",), ("/oauth/token",)),
    "zepp": (("/",), ("/oauth2/access_token", "/oauth2/refresh_token")),
}

KNOWN_SCOPES: dict[str, frozenset[str]] = {
    "whoop": frozenset({"offline", "read:recovery", "read:cycles", "read:workout", "read:sleep",
                        "read:profile", "read:body_measurement"}),
    "oura": frozenset({"email", "personal", "daily", "heartrate", "workout", "tag", "session",
                       "spo2Daily", "spo2"}),
    "fitbit": frozenset({"activity", "heartrate", "sleep", "profile", "weight", "nutrition",
                         "settings", "location", "social", "oxygen_saturation",
                         "respiratory_rate", "temperature", "cardio_fitness",
                         "electrocardiogram", "irregular_rhythm_notifications"}),
    "google_health": frozenset(
        "https://www.googleapis.com/auth/googlehealth." + s for s in (
            "activity_and_fitness.readonly", "health_metrics_and_measurements.readonly",
            "sleep.readonly", "nutrition.readonly", "settings.readonly")),
    "garmin": frozenset(),
    "polar": frozenset({"accesslink.read_all"}),
    "withings": frozenset({"user.info", "user.metrics", "user.activity", "user.sleepevents"}),
    "strava": frozenset({"read", "read_all", "profile:read_all", "profile:write",
                         "activity:read", "activity:read_all", "activity:write"}),
    "dexcom": frozenset({"offline_access"}),
    "wahoo": frozenset({"email", "user_read", "user_write", "workouts_read", "workouts_write",
                        "offline_data", "plans_read", "plans_write", "power_zones_read",
                        "power_zones_write", "routes_read", "routes_write"}),
    "ultrahuman": frozenset({"ring_data", "cgm_data", "profile"}),
    "coros": frozenset(),
    "suunto": frozenset(),
    "zepp": frozenset({"profile", "activity", "sleep", "heartrate", "motion"}),
}

WITHINGS_GRACE_S = 8 * 3600


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def pkce_s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def split_scopes(profile: Profile, raw: str | None) -> list[str]:
    if not raw or not profile.scope_separator:
        return []
    return [s for s in raw.split(profile.scope_separator) if s]


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def routes(state: SimState, profile: Profile) -> list[Route]:
    authorize_paths, token_paths = OAUTH_PATHS[profile.name]
    out = [route(state, profile, p, _authorize, methods=["GET"], auth=False, limited=False)
           for p in authorize_paths]
    out += [route(state, profile, p, _token, methods=["POST"], auth=False, limited=False)
            for p in token_paths]
    out += _revoke_routes(state, profile)
    return out


# --- authorize ------------------------------------------------------------------------------

async def _authorize(ctx: Ctx) -> Response:
    state, profile, q = ctx.state, ctx.profile, ctx.query
    client = state.client(profile.name)
    if q.get("client_id") != client.client_id:
        return JSONResponse({"error": "invalid_client", "error_description": "unknown client_id"},
                            400)
    redirect_uri = q.get("redirect_uri")
    if not redirect_uri:
        return JSONResponse({"error": "invalid_request",
                             "error_description": "redirect_uri is required"}, 400)
    scopes = split_scopes(profile, q.get("scope"))
    plan = state.pop_authorize_plan(profile.name)
    record = AuthorizeRecord(profile.name, dict(q), scopes, q.get("scope"),
                             q.get("code_challenge"), q.get("code_challenge_method"),
                             None, None, None)
    state.authorizations.append(record)
    failure = plan["error"] or _authorize_problem(state, profile, q, scopes)
    if failure:
        record.error = failure
        params = {"error": failure}
        if q.get("state") is not None:
            params["state"] = q["state"]
        return RedirectResponse(_with_query(redirect_uri, params), 302)
    user = (state.user(profile.name, plan["user"]) if plan["user"] is not None
            else state.default_user(profile.name))
    granted = plan["granted_scopes"] if plan["granted_scopes"] is not None else scopes
    offline = q.get("access_type") == "offline" if profile.name == "google_health" else True
    code = AuthCode(secrets.token_urlsafe(16), profile.name, client.client_id, user.key,
                    list(granted), redirect_uri, q.get("code_challenge"),
                    q.get("code_challenge_method"), state.now(), offline=offline)
    state.codes[code.code] = code
    record.user, record.code = user.key, code.code
    params = {"code": code.code}
    if q.get("state") is not None:
        params["state"] = q["state"]
    if profile.name == "strava":
        params["scope"] = ",".join(granted)
    return RedirectResponse(_with_query(redirect_uri, params), 302)


def _authorize_problem(state: SimState, profile: Profile, q: dict[str, str],
                       scopes: list[str]) -> str | None:
    if q.get("response_type") != "code":
        return "unsupported_response_type"
    allowed = state.client(profile.name).allowed_scopes or KNOWN_SCOPES[profile.name]
    if any(s not in allowed for s in scopes):
        return "invalid_scope"
    challenge = q.get("code_challenge")
    if profile.pkce == "required" and not challenge:
        return "invalid_request"
    if challenge and profile.pkce != "none" and q.get("code_challenge_method") != "S256":
        return "invalid_request"
    return None


# --- token ----------------------------------------------------------------------------------

async def _token(ctx: Ctx) -> Response:
    state, profile = ctx.state, ctx.profile
    state.counters[f"{profile.name}.token_calls"] += 1
    params = ctx.params
    try:
        if profile.name == "withings":
            action = params.get("action")
            if action == "revoke":
                return _withings_revoke(ctx)
            if action != "requesttoken":
                raise OAuthError("invalid_request", "action must be requesttoken or revoke")
        _authenticate_client(ctx)
        grant = params.get("grant_type")
        refresh_path = profile.extra.get("refresh_path")
        if refresh_path and (grant == "refresh_token") != ctx.path.endswith(str(refresh_path)):
            raise OAuthError("invalid_request", f"refreshes go to {refresh_path} and nothing else does")
        if grant == "authorization_code":
            payload = _grant_code(ctx)
        elif grant == "refresh_token":
            payload = _grant_refresh(ctx)
        else:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant!r} is not supported")
    except OAuthError as exc:
        state.counters[f"{profile.name}.token_errors.{exc.error}"] += 1
        return _oauth_error(profile, exc)
    if profile.name == "withings":
        return JSONResponse({"status": 0, "body": payload})
    if profile.name == "coros":  # camelCase, with the user's openId
        return JSONResponse({"accessToken": payload["access_token"], "expiresIn": payload["expires_in"],
                             "refreshToken": payload.get("refresh_token"),
                             "openId": state.users["coros"][state.access_tokens[payload["access_token"]]
                                                            .family.user_key].vendor_id})
    return JSONResponse(payload, headers={"Cache-Control": "no-store"})


def _oauth_error(profile: Profile, exc: OAuthError) -> Response:
    if profile.name == "withings":
        status = {"invalid_grant": 401, "invalid_client": 100}.get(exc.error, 201)
        return JSONResponse({"status": status, "body": {},
                             "error": f"{exc.error}: {exc.description}"})
    return JSONResponse({"error": exc.error, "error_description": exc.description}, exc.status)


def _authenticate_client(ctx: Ctx) -> None:
    client = ctx.state.client(ctx.profile.name)
    header = ctx.header("authorization") or ""
    if ctx.profile.client_auth == "basic":
        if not header.lower().startswith("basic "):
            raise OAuthError("invalid_client", "HTTP Basic client authentication required", 401)
        try:
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
        except ValueError:
            raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
        client_id, _, secret = decoded.partition(":")
    else:
        if header.lower().startswith("basic "):
            raise OAuthError("invalid_client",
                             "client credentials must be sent in the form body", 401)
        client_id, secret = ctx.params.get("client_id", ""), ctx.params.get("client_secret", "")
    if not (hmac.compare_digest(client_id, client.client_id)
            and hmac.compare_digest(secret, client.client_secret)):
        raise OAuthError("invalid_client", "client authentication failed", 401)


def _grant_code(ctx: Ctx) -> dict[str, Any]:
    state, profile, params = ctx.state, ctx.profile, ctx.params
    code = state.codes.get(params.get("code", ""))
    if code is None or code.profile != profile.name or code.used:
        raise OAuthError("invalid_grant", "authorization code is invalid or already used")
    if state.now() - code.issued_at > profile.code_ttl_s:
        raise OAuthError("invalid_grant", "authorization code expired")
    given = params.get("redirect_uri")
    if given != code.redirect_uri and (given is not None or profile.name != "polar"):
        raise OAuthError("invalid_grant", "redirect_uri does not match the authorize request")
    if code.code_challenge and profile.pkce != "none":
        verifier = params.get("code_verifier")
        if not verifier:
            raise OAuthError("invalid_grant", "code_verifier is required")
        if not hmac.compare_digest(pkce_s256(verifier), code.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match code_challenge")
    code.used = True
    with_refresh = code.offline and (profile.name != "whoop" or "offline" in code.scopes)
    access, refresh = state.issue_tokens(profile.name, code.user_key, code.scopes,
                                         with_refresh=with_refresh)
    return _token_payload(ctx, access, refresh, first=True)


def _grant_refresh(ctx: Ctx) -> dict[str, Any]:
    state, profile, params = ctx.state, ctx.profile, ctx.params
    if not profile.issues_refresh_token:
        raise OAuthError("unsupported_grant_type", "this vendor has no refresh flow")
    if profile.name == "whoop" and "offline" not in split_scopes(profile, params.get("scope")):
        raise OAuthError("invalid_request", "refresh requires scope=offline")
    given = params.get("refresh_token", "")
    if profile.extra.get("refresh_token_in_header"):  # `Authorization: Bearer <refresh token>`
        if given:
            raise OAuthError("invalid_request", "send the refresh token in the Authorization header")
        given = bearer(ctx.request, {}) or ""
    with state.lock:
        old = state.refresh_tokens.get(given)
        if old is None or old.family.profile != profile.name:
            raise OAuthError("invalid_grant", "unknown refresh token")
        if old.family.revoked:
            raise OAuthError("invalid_grant", "refresh token has been revoked")
        if old.expires_at is not None and old.expires_at <= state.now():
            raise OAuthError("invalid_grant", "refresh token expired")
        if old.used_at is not None and profile.rotation != "none" and not _in_grace(ctx, old):
            state.counters[f"{profile.name}.refresh_reuse"] += 1
            if profile.rotation == "strict":
                state.revoke_family(old.family)
            raise OAuthError("invalid_grant", "refresh token was already used")
        old.used_at = state.now()
        rotate = profile.rotation != "none"
        access, refresh = state.issue_tokens(profile.name, old.family.user_key,
                                             old.family.scopes, family=old.family,
                                             with_refresh=rotate)
        old.successor_access = access.token
    return _token_payload(ctx, access, refresh, first=False)


def _in_grace(ctx: Ctx, old: RefreshToken) -> bool:
    """Withings: the previous refresh token survives until the new access token is used (or 8 h)."""
    if ctx.profile.rotation != "grace" or old.used_at is None:
        return False
    successor = ctx.state.access_tokens.get(old.successor_access or "")
    return (successor is not None and not successor.used
            and ctx.state.now() - old.used_at < WITHINGS_GRACE_S)


def _token_payload(ctx: Ctx, access: AccessToken, refresh: RefreshToken | None, *,
                   first: bool) -> dict[str, Any]:
    profile, state = ctx.profile, ctx.state
    ttl = int(access.expires_at - state.now() + 0.5)
    scope = profile.scope_separator.join(access.family.scopes) if profile.scope_separator else ""
    user = state.users[profile.name][access.family.user_key]
    token_type = "bearer" if profile.name in ("whoop", "oura", "garmin", "polar") else "Bearer"
    payload: dict[str, Any] = {"access_token": access.token, "token_type": token_type,
                               "expires_in": ttl}
    if refresh is not None:
        payload["refresh_token"] = refresh.token
    if profile.name not in ("polar", "dexcom", "garmin", "coros"):
        payload["scope"] = scope
    if profile.name == "fitbit":
        payload["user_id"] = user.key
    elif profile.name == "polar":
        payload["x_user_id"] = user.vendor_id
    elif profile.name == "garmin" and refresh is not None:
        payload["refresh_token_expires_in"] = int(refresh.expires_at - state.now() + 0.5) \
            if refresh.expires_at else None
    elif profile.name == "withings":
        payload.update(userid=user.vendor_id, csrf_token=secrets.token_hex(8))
    elif profile.name == "strava":
        payload["expires_at"] = int(access.expires_at)
        if first:
            payload["athlete"] = state.records("strava", "athlete", user.key)[0]
    return payload


# --- revoke / deauthorize -------------------------------------------------------------------

def _revoke_routes(state: SimState, profile: Profile) -> list[Route]:
    name = profile.name
    if name == "whoop":
        return [route(state, profile, "/developer/v2/user/access", _revoke_bearer_user,
                      methods=["DELETE"], limited=False)]
    if name == "wahoo":
        return [route(state, profile, "/v1/permissions", _revoke_bearer_user,
                      methods=["DELETE"], limited=False)]
    if name == "garmin":
        return [route(state, profile, "/wellness-api/rest/user/registration",
                      _revoke_bearer_user, methods=["DELETE"], limited=False)]
    if name == "strava":
        return [route(state, profile, "/oauth/deauthorize", _strava_deauthorize,
                      methods=["POST"], auth=False, limited=False)]
    if name in ("oura", "fitbit", "google_health"):
        path = {"oura": "/oauth/revoke", "fitbit": "/oauth2/revoke",
                "google_health": "/revoke"}[name]
        return [route(state, profile, path, _revoke_by_token, methods=["POST"], auth=False,
                      limited=False)]
    if name == "withings":
        return [route(state, profile, "/v2/signature", _withings_nonce, methods=["POST"],
                      auth=False, limited=False)]
    return []


async def _revoke_bearer_user(ctx: Ctx) -> Response:
    assert ctx.token is not None
    ctx.state.revoke_user(ctx.profile.name, ctx.token.family.user_key)
    ctx.state.counters[f"{ctx.profile.name}.revocations"] += 1
    return Response(status_code=204)


async def _revoke_by_token(ctx: Ctx) -> Response:
    state, profile = ctx.state, ctx.profile
    if profile.client_auth == "basic":
        try:
            _authenticate_client(ctx)
        except OAuthError as exc:
            return _oauth_error(profile, exc)
    value = ctx.params.get("access_token") or ctx.params.get("token") or ""
    found = state.access_tokens.get(value) or state.refresh_tokens.get(value)
    if found is None or found.family.profile != profile.name:
        return JSONResponse({"error": "invalid_token",
                             "error_description": "token is not known"}, 400)
    state.revoke_user(profile.name, found.family.user_key)
    state.counters[f"{profile.name}.revocations"] += 1
    return JSONResponse({})


async def _strava_deauthorize(ctx: Ctx) -> Response:
    token = bearer(ctx.request, ctx.params)
    access = ctx.state.valid_access("strava", token)
    if access is None:
        raise HttpError(401, "invalid access token")
    ctx.state.revoke_user("strava", access.family.user_key)
    ctx.state.counters["strava.revocations"] += 1
    return JSONResponse({"access_token": token})


def withings_signature(client_secret: str, values: list[str]) -> str:
    """HMAC-SHA256 over the comma-joined values of the alphabetically sorted signed params."""
    return hmac.new(client_secret.encode(), ",".join(values).encode(), hashlib.sha256).hexdigest()


async def _withings_nonce(ctx: Ctx) -> Response:
    params, client = ctx.params, ctx.state.client("withings")
    if params.get("action") != "getnonce":
        return JSONResponse({"status": 201, "body": {}, "error": "action must be getnonce"})
    expected = withings_signature(client.client_secret, [
        "getnonce", client.client_id, params.get("timestamp", "")])
    if params.get("client_id") != client.client_id or not hmac.compare_digest(
            params.get("signature", ""), expected):
        return JSONResponse({"status": 100, "body": {}, "error": "invalid signature"})
    nonce = secrets.token_hex(16)
    ctx.state.nonces[nonce] = ctx.state.now()
    return JSONResponse({"status": 0, "body": {"nonce": nonce}})


def _withings_revoke(ctx: Ctx) -> Response:
    params, state, client = ctx.params, ctx.state, ctx.state.client("withings")
    nonce = params.get("nonce", "")
    issued = state.nonces.pop(nonce, None)
    expected = withings_signature(client.client_secret, ["revoke", client.client_id, nonce])
    if issued is None or state.now() - issued > 1800 or params.get("client_id") != \
            client.client_id or not hmac.compare_digest(params.get("signature", ""), expected):
        return JSONResponse({"status": 100, "body": {}, "error": "invalid nonce or signature"})
    userid = params.get("userid", "")
    if userid not in state.users["withings"]:
        return JSONResponse({"status": 201, "body": {}, "error": "unknown userid"})
    state.revoke_user("withings", userid)
    state.subscriptions["withings"] = [
        s for s in state.subscriptions["withings"] if str(s.get("userid")) != userid]
    state.counters["withings.revocations"] += 1
    return JSONResponse({"status": 0, "body": {}})
