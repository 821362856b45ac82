# ruff: noqa: F811  (the `sim` fixture is imported, then requested by name)
"""The vendor simulator behaves like the vendors' documentation says."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import webhooks
from sandbox.app import create_sim
from sandbox.oauth import pkce_s256
from sandbox.server import RunningSim, serve_in_subprocess
from tests.sandbox_fixtures import sim  # noqa: F401  (pytest fixture)

REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture
def http() -> httpx2.Client:
    with httpx2.Client(timeout=5) as client:
        yield client


def authorize(sim: RunningSim, http: httpx2.Client, profile: str, path: str,
              **params: str) -> dict[str, str]:
    query = {"client_id": sim.state.client(profile).client_id, "redirect_uri": REDIRECT,
             "response_type": "code", "state": "st-1", **params}
    response = http.get(sim.url(profile, path), params=query)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def form_token(sim: RunningSim, http: httpx2.Client, profile: str, path: str,
               **fields: str) -> httpx2.Response:
    client = sim.state.client(profile)
    return http.post(sim.url(profile, path), data={
        "client_id": client.client_id, "client_secret": client.client_secret, **fields})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- OAuth ----------------------------------------------------------------------------------

def test_garmin_requires_pkce_and_checks_the_verifier(sim: RunningSim, http: httpx2.Client):
    user = sim.state.add_user("garmin")
    refused = authorize(sim, http, "garmin", "/oauth2Confirm")
    assert refused == {"error": "invalid_request", "state": "st-1"}

    verifier = "v" * 50
    granted = authorize(sim, http, "garmin", "/oauth2Confirm",
                        code_challenge=pkce_s256(verifier), code_challenge_method="S256")
    assert granted["state"] == "st-1"
    record = sim.state.authorizations[-1]
    assert record.code_challenge == pkce_s256(verifier) and record.user == user.key

    path = "/di-oauth2-service/oauth/token"
    wrong = form_token(sim, http, "garmin", path, grant_type="authorization_code",
                       code=granted["code"], code_verifier="x" * 50, redirect_uri=REDIRECT)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    granted = authorize(sim, http, "garmin", "/oauth2Confirm",
                        code_challenge=pkce_s256(verifier), code_challenge_method="S256")
    ok = form_token(sim, http, "garmin", path, grant_type="authorization_code",
                    code=granted["code"], code_verifier=verifier, redirect_uri=REDIRECT)
    body = ok.json()
    assert ok.status_code == 200 and body["expires_in"] == 86_400
    assert body["refresh_token_expires_in"] == 7_776_000
    identity = http.get(sim.url("garmin", "/wellness-api/rest/user/id"),
                        headers=bearer(body["access_token"]))
    assert identity.json() == {"userId": user.key}
    assert sim.state.token_calls("garmin") == 2


def test_fitbit_wants_basic_client_auth_and_returns_user_id(sim: RunningSim,
                                                             http: httpx2.Client):
    user = sim.state.add_user("fitbit")
    code = authorize(sim, http, "fitbit", "/oauth2/authorize", scope="sleep heartrate")["code"]
    in_body = form_token(sim, http, "fitbit", "/oauth2/token", grant_type="authorization_code",
                         code=code, redirect_uri=REDIRECT)
    assert in_body.status_code == 401 and in_body.json()["error"] == "invalid_client"
    client = sim.state.client("fitbit")
    basic = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
    ok = http.post(sim.url("fitbit", "/oauth2/token"), headers={"Authorization": f"Basic {basic}"},
                   data={"grant_type": "authorization_code", "code": code,
                         "redirect_uri": REDIRECT})
    assert ok.status_code == 200
    assert ok.json()["user_id"] == user.key and ok.json()["expires_in"] == 28_800
    assert sim.state.authorizations[-1].scopes == ["sleep", "heartrate"]


def test_whoop_rotation_and_reuse_detection(sim: RunningSim, http: httpx2.Client):
    sim.state.add_user("whoop")
    no_offline = authorize(sim, http, "whoop", "/oauth/oauth2/auth", scope="read:sleep")
    first = form_token(sim, http, "whoop", "/oauth/oauth2/token",
                       grant_type="authorization_code", code=no_offline["code"],
                       redirect_uri=REDIRECT).json()
    assert "refresh_token" not in first

    code = authorize(sim, http, "whoop", "/oauth/oauth2/auth", scope="offline read:sleep")
    tokens = form_token(sim, http, "whoop", "/oauth/oauth2/token",
                        grant_type="authorization_code", code=code["code"],
                        redirect_uri=REDIRECT).json()
    path = "/oauth/oauth2/token"
    missing_scope = form_token(sim, http, "whoop", path, grant_type="refresh_token",
                               refresh_token=tokens["refresh_token"])
    assert missing_scope.json()["error"] == "invalid_request"
    rotated = form_token(sim, http, "whoop", path, grant_type="refresh_token",
                         refresh_token=tokens["refresh_token"], scope="offline").json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    sleep_url = sim.url("whoop", "/developer/v2/activity/sleep")
    assert http.get(sleep_url, headers=bearer(rotated["access_token"])).status_code == 200

    reuse = form_token(sim, http, "whoop", path, grant_type="refresh_token",
                       refresh_token=tokens["refresh_token"], scope="offline")
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert sim.state.refresh_token_reuses("whoop") == 1
    # the whole family is gone: the rotated tokens no longer work either
    assert http.get(sleep_url, headers=bearer(rotated["access_token"])).status_code == 401
    after = form_token(sim, http, "whoop", path, grant_type="refresh_token",
                       refresh_token=rotated["refresh_token"], scope="offline")
    assert after.json()["error"] == "invalid_grant"
    unknown = form_token(sim, http, "whoop", path, grant_type="refresh_token",
                         refresh_token="nope", scope="offline")
    assert unknown.json()["error"] == "invalid_grant"


def test_withings_envelope_and_http_200_errors(sim: RunningSim, http: httpx2.Client):
    user = sim.state.add_user("withings")
    code = authorize(sim, http, "withings", "/oauth2_user/authorize2",
                     scope="user.info,user.metrics")["code"]
    assert sim.state.authorizations[-1].scopes == ["user.info", "user.metrics"]
    bad = form_token(sim, http, "withings", "/v2/oauth2", action="requesttoken",
                     grant_type="authorization_code", code="wrong", redirect_uri=REDIRECT)
    assert bad.status_code == 200 and bad.json()["status"] == 401
    ok = form_token(sim, http, "withings", "/v2/oauth2", action="requesttoken",
                    grant_type="authorization_code", code=code, redirect_uri=REDIRECT).json()
    assert ok["status"] == 0 and ok["body"]["userid"] == user.vendor_id
    assert ok["body"]["scope"] == "user.info,user.metrics" and ok["body"]["expires_in"] == 10_800
    spaced = authorize(sim, http, "withings", "/oauth2_user/authorize2",
                       scope="user.info user.metrics")
    assert spaced["error"] == "invalid_scope"


def test_strava_and_polar_token_extras(sim: RunningSim, http: httpx2.Client):
    athlete = sim.state.add_user("strava")
    code = authorize(sim, http, "strava", "/oauth/authorize", scope="read,activity:read_all")
    assert code["scope"] == "read,activity:read_all"
    body = form_token(sim, http, "strava", "/oauth/token", grant_type="authorization_code",
                      code=code["code"], redirect_uri=REDIRECT).json()
    assert body["athlete"]["id"] == athlete.vendor_id
    assert body["expires_at"] - int(sim.state.now()) in (21_599, 21_600, 21_601)

    polar_user = sim.state.add_user("polar")
    code = authorize(sim, http, "polar", "/oauth2/authorization")["code"]
    client = sim.state.client("polar")
    token = http.post(sim.url("polar", "/v2/oauth2/token"),
                      auth=(client.client_id, client.client_secret),
                      data={"grant_type": "authorization_code", "code": code}).json()
    assert token["x_user_id"] == polar_user.vendor_id and "refresh_token" not in token
    headers = bearer(token["access_token"])
    url = sim.url("polar", "/v3/users/sleep")
    assert http.get(url, headers=headers).status_code == 403
    register = http.post(sim.url("polar", "/v3/users"), headers=headers,
                         json={"member-id": "app-user-1"})
    assert register.status_code == 200
    assert http.post(sim.url("polar", "/v3/users"), headers=headers,
                     json={"member-id": "app-user-1"}).status_code == 409
    nights = http.get(url, headers=headers).json()["nights"]
    assert [n["date"] for n in nights] == [
        n["date"] for n in sim.state.records("polar", "sleep", polar_user.key)]


# --- pagination against ground truth --------------------------------------------------------

def test_whoop_cursor_walk_returns_ground_truth_once(sim: RunningSim, http: httpx2.Client):
    user = sim.state.add_user("whoop", days=40)
    token = sim.state.token_for("whoop", user.key)
    url, seen, cursor, pages = sim.url("whoop", "/developer/v2/activity/sleep"), [], None, 0
    while True:
        params = {"limit": 25, **({"nextToken": cursor} if cursor else {})}
        body = http.get(url, params=params, headers=bearer(token)).json()
        seen += body["records"]
        pages += 1
        cursor = body.get("next_token")
        if not cursor:
            break
    truth = sim.state.records("whoop", "sleep", user.key)
    assert pages >= 2 and len(seen) == len(truth)
    assert sorted(s["id"] for s in seen) == sorted(t["id"] for t in truth)
    starts = [s["start"] for s in seen]
    assert starts == sorted(starts, reverse=True)
    too_big = http.get(url, params={"limit": 26}, headers=bearer(token))
    assert too_big.status_code == 400


def test_oura_withings_strava_fitbit_walks(sim: RunningSim, http: httpx2.Client):
    oura = sim.state.add_user("oura", days=3)
    token = sim.state.token_for("oura", oura.key)
    url, samples, cursor = sim.url("oura", "/v2/usercollection/heartrate"), [], None
    while True:
        body = http.get(url, params={"next_token": cursor} if cursor else {},
                        headers=bearer(token)).json()
        samples += body["data"]
        cursor = body["next_token"]
        if not cursor:
            break
    assert samples == sim.state.records("oura", "heartrate", oura.key)

    withings = sim.state.add_user("withings", days=30)
    sim.state.page_sizes["withings"] = 7
    token = sim.state.token_for("withings", withings.key)
    groups, offset = [], 0
    while True:
        body = http.post(sim.url("withings", "/measure"), headers=bearer(token), data={
            "action": "getmeas", "startdate": "0", "enddate": "9999999999",
            "offset": str(offset)}).json()
        assert body["status"] == 0
        groups += body["body"]["measuregrps"]
        if not body["body"]["more"]:
            break
        offset = body["body"]["offset"]
    assert [g["grpid"] for g in groups] == [
        g["grpid"] for g in sim.state.records("withings", "measures", withings.key)]
    weight = next(m for m in groups[0]["measures"] if m["type"] == 1)
    assert 60 < weight["value"] * 10 ** weight["unit"] < 80

    strava = sim.state.add_user("strava", days=20)
    token = sim.state.token_for("strava", strava.key)
    activities, page_no = [], 1
    while True:
        chunk = http.get(sim.url("strava", "/api/v3/athlete/activities"), headers=bearer(token),
                         params={"page": page_no, "per_page": 4}).json()
        if not chunk:
            break
        activities += chunk
        page_no += 1
    assert sorted(a["id"] for a in activities) == sorted(
        a["id"] for a in sim.state.records("strava", "activities", strava.key))

    fitbit = sim.state.add_user("fitbit", days=20)
    token = sim.state.token_for("fitbit", fitbit.key)
    logs, next_url = [], sim.url("fitbit", "/1/user/-/activities/list.json") + \
        "?afterDate=2000-01-01&sort=asc&offset=0&limit=5"
    while next_url:
        body = http.get(next_url, headers=bearer(token)).json()
        logs += body["activities"]
        next_url = body["pagination"]["next"]
    assert [a["logId"] for a in logs] == [
        a["logId"] for a in sim.state.records("fitbit", "activities", fitbit.key)]


def test_window_rules(sim: RunningSim, http: httpx2.Client):
    dexcom = sim.state.add_user("dexcom", days=2)
    token = sim.state.token_for("dexcom", dexcom.key)
    url = sim.url("dexcom", "/v3/users/self/egvs")
    assert http.get(url, headers=bearer(token)).status_code == 400
    truth = sim.state.records("dexcom", "egvs", dexcom.key)
    body = http.get(url, headers=bearer(token), params={
        "startDate": truth[0]["systemTime"], "endDate": truth[-1]["systemTime"]}).json()
    assert body["records"] == truth[:-1]

    garmin = sim.state.add_user("garmin", days=2)
    token = sim.state.token_for("garmin", garmin.key)
    too_long = http.get(sim.url("garmin", "/wellness-api/rest/dailies"), headers=bearer(token),
                        params={"uploadStartTimeInSeconds": 0,
                                "uploadEndTimeInSeconds": 86_401})
    assert too_long.status_code == 400
    backfill = sim.url("garmin", "/wellness-api/rest/backfill/dailies")
    window = {"summaryStartTimeInSeconds": 1_700_000_000,
              "summaryEndTimeInSeconds": 1_700_086_400}
    assert http.get(backfill, headers=bearer(token), params=window).status_code == 202
    assert http.get(backfill, headers=bearer(token), params=window).status_code == 409
    assert sim.state.backfills[0]["type"] == "dailies"


# --- rate limits and faults -----------------------------------------------------------------

def test_rate_limit_dialects(sim: RunningSim, http: httpx2.Client):
    state = sim.state
    whoop = state.add_user("whoop")
    token = state.token_for("whoop", whoop.key)
    state.set_limit("whoop", requests=2, window_s=60)
    url = sim.url("whoop", "/developer/v2/cycle")
    first = http.get(url, headers=bearer(token))
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert first.headers["X-RateLimit-Limit"] == "2, 2;window=60"
    http.get(url, headers=bearer(token))
    limited = http.get(url, headers=bearer(token))
    assert limited.status_code == 429 and int(limited.headers["X-RateLimit-Reset"]) >= 1
    assert state.served_429("whoop") == 1

    oura = state.add_user("oura")
    state.set_limit("oura", requests=1, window_s=300, scope="token")
    token = state.token_for("oura", oura.key)
    url = sim.url("oura", "/v2/usercollection/daily_sleep")
    http.get(url, headers=bearer(token))
    limited = http.get(url, headers=bearer(token))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-RateLimit-Window"] == "300"

    withings = state.add_user("withings")
    state.set_limit("withings", requests=0, window_s=60)
    token = state.token_for("withings", withings.key)
    body = http.post(sim.url("withings", "/v2/sleep"), headers=bearer(token),
                     data={"action": "getsummary", "lastupdate": "1"})
    assert body.status_code == 200 and body.json()["status"] == 601

    strava = state.add_user("strava")
    token = state.token_for("strava", strava.key)
    ok = http.get(sim.url("strava", "/api/v3/athlete"), headers=bearer(token))
    assert ok.headers["X-RateLimit-Limit"] == "200,2000"
    assert ok.headers["X-ReadRateLimit-Usage"] == "1,1"

    state.lift_limits("whoop")
    assert http.get(sim.url("whoop", "/developer/v2/cycle"),
                    headers=bearer(state.token_for("whoop", whoop.key))).status_code == 200


def test_fault_injection(sim: RunningSim, http: httpx2.Client):
    state = sim.state
    user = state.add_user("whoop")
    token = state.token_for("whoop", user.key)
    url = sim.url("whoop", "/developer/v2/activity/workout")
    state.inject("whoop", "/developer/v2/activity", "unavailable", times=1, retry_after=7)
    state.inject("whoop", "/developer/v2/activity", "malformed_json", times=1)
    state.inject("whoop", "/developer/v2/activity", "unauthorized", times=1)
    unavailable = http.get(url, headers=bearer(token))
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "7"
    malformed = http.get(url, headers=bearer(token))
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed.content)
    assert http.get(url, headers=bearer(token)).status_code == 401
    assert http.get(url, headers=bearer(token)).status_code == 200
    state.inject("whoop", "/developer/v2/activity", "timeout", seconds=2)
    with pytest.raises(httpx2.TimeoutException):
        http.get(url, headers=bearer(token), timeout=0.2)
    assert http.get(sim.url("whoop", "/developer/v2/cycle")).status_code == 401


# --- webhooks and subscriptions -------------------------------------------------------------

def test_signers_match_hand_computed_hmacs():
    whoop = webhooks.whoop_event("s3cret", user_id=7, object_id="abc", event_type="sleep.updated",
                                 trace_id="t", timestamp_ms=1748241241000)
    expected = base64.b64encode(hmac.new(
        b"s3cret", b"1748241241000" + whoop.body, hashlib.sha256).digest()).decode()
    assert whoop.headers["X-WHOOP-Signature"] == expected
    assert whoop.json() == {"user_id": 7, "id": "abc", "type": "sleep.updated", "trace_id": "t"}

    oura = webhooks.oura_event("k", event_type="update", data_type="sleep", object_id="o",
                               user_id="u", timestamp="1700000000")
    assert oura.headers["x-oura-signature"] == hmac.new(
        b"k", b"1700000000" + oura.body, hashlib.sha256).hexdigest().upper()

    fitbit = webhooks.fitbit_notification("k", [webhooks.fitbit_item(
        collection="sleep", date="2024-01-01", owner_id="ABC", subscription_id="1")])
    assert fitbit.headers["X-Fitbit-Signature"] == base64.b64encode(
        hmac.new(b"k&", fitbit.body, hashlib.sha1).digest()).decode()
    assert isinstance(fitbit.json(), list)

    polar = webhooks.polar_event("p", event="EXERCISE", user_id=1, entity_id="e", url="u")
    assert polar.headers["Polar-Webhook-Signature"] == hmac.new(
        b"p", polar.body, hashlib.sha256).hexdigest()

    withings = webhooks.withings_notification(userid=5, appli=1, startdate=10, enddate=20)
    assert withings.body == b"userid=5&appli=1&startdate=10&enddate=20"
    deauth = webhooks.strava_deauthorization(owner_id=9, subscription_id=3).json()
    assert deauth["updates"] == {"authorized": "false"} and deauth["object_type"] == "athlete"


def test_mutation_emits_matching_webhook(sim: RunningSim, http: httpx2.Client):
    user = sim.state.add_user("whoop")
    sleep = sim.state.records("whoop", "sleep", user.key)[0]
    delivery = webhooks.update_record(sim.state, "whoop", "sleep", user.key, sleep["id"],
                                      {"score": {"respiratory_rate": 99.0}})
    assert delivery.json()["id"] == sleep["id"] and delivery.json()["type"] == "sleep.updated"
    token = sim.state.token_for("whoop", user.key)
    fetched = http.get(sim.url("whoop", f"/developer/v2/activity/sleep/{sleep['id']}"),
                       headers=bearer(token)).json()
    assert fetched["score"]["respiratory_rate"] == 99.0
    gone = webhooks.delete_record(sim.state, "whoop", "sleep", user.key, sleep["id"])
    assert gone.json()["type"] == "sleep.deleted"
    assert http.get(sim.url("whoop", f"/developer/v2/activity/sleep/{sleep['id']}"),
                    headers=bearer(token)).status_code == 404


def _receiver() -> tuple[Starlette, list[Request]]:
    seen: list[Request] = []

    async def hook(request: Request) -> Response:
        seen.append(request)
        q = request.query_params
        if "challenge" in q:
            return JSONResponse({"challenge": q["challenge"]})
        if "hub.challenge" in q:
            return JSONResponse({"hub.challenge": q["hub.challenge"]})
        return Response(status_code=200)

    return Starlette(routes=[Route("/hook", hook, methods=["GET", "POST", "HEAD"])]), seen


def test_subscription_handshakes(sim: RunningSim, http: httpx2.Client):
    receiver, seen = _receiver()
    sim.state.outbound_transport = httpx2.ASGITransport(app=receiver)
    client = sim.state.client("oura")
    headers = {"x-client-id": client.client_id, "x-client-secret": client.client_secret}
    body = {"callback_url": "http://engine.test/hook", "verification_token": "vt",
            "event_type": "update", "data_type": "sleep"}
    assert http.post(sim.url("oura", "/v2/webhook/subscription"), json=body).status_code == 401
    created = http.post(sim.url("oura", "/v2/webhook/subscription"), json=body, headers=headers)
    assert created.status_code == 201 and created.json()["expiration_time"]
    assert seen[-1].query_params["verification_token"] == "vt"
    duplicate = http.post(sim.url("oura", "/v2/webhook/subscription"), json=body,
                          headers=headers)
    assert duplicate.status_code == 409
    renewed = http.put(sim.url("oura", f"/v2/webhook/subscription/renew/{created.json()['id']}"),
                       headers=headers)
    assert renewed.status_code == 200

    strava = sim.state.client("strava")
    made = http.post(sim.url("strava", "/api/v3/push_subscriptions"), data={
        "client_id": strava.client_id, "client_secret": strava.client_secret,
        "callback_url": "http://engine.test/hook", "verify_token": "vt"})
    assert made.status_code == 201 and seen[-1].query_params["hub.mode"] == "subscribe"

    polar = sim.state.client("polar")
    hook = http.post(sim.url("polar", "/v3/webhooks"), auth=(polar.client_id, polar.client_secret),
                     json={"events": ["EXERCISE"], "url": "http://engine.test/hook"})
    assert hook.status_code == 201 and hook.json()["data"]["signature_secret_key"]
    listed = http.get(sim.url("polar", "/v3/webhooks"),
                      auth=(polar.client_id, polar.client_secret)).json()["data"]
    assert "signature_secret_key" not in listed[0]

    user = sim.state.add_user("withings")
    token = sim.state.token_for("withings", user.key)
    sub = http.post(sim.url("withings", "/notify"), headers=bearer(token), data={
        "action": "subscribe", "callbackurl": "http://engine.test/hook", "appli": "1"})
    assert sub.json()["status"] == 0 and seen[-1].method == "HEAD"


def test_revocation_and_determinism(sim: RunningSim, http: httpx2.Client):
    user = sim.state.add_user("whoop", seed=42)
    token = sim.state.token_for("whoop", user.key)
    revoke = http.delete(sim.url("whoop", "/developer/v2/user/access"), headers=bearer(token))
    assert revoke.status_code == 204
    assert http.get(sim.url("whoop", "/developer/v2/cycle"),
                    headers=bearer(token)).status_code == 401
    other = create_sim(["whoop"]).state
    twin = other.add_user("whoop", seed=42)
    assert other.records("whoop", "sleep", twin.key) == sim.state.records("whoop", "sleep",
                                                                          user.key)


@pytest.mark.slow
def test_standalone_process_serves_all_profiles():
    with serve_in_subprocess(profiles=["whoop", "oura"]) as base_url:
        index = httpx2.get(base_url + "/", timeout=5).json()
        assert index == {"profiles": {"whoop": "/whoop", "oura": "/oura"}}
