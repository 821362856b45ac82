"""The console refuses what it must: no page or action without a login, no form without its CSRF
token, no API key guessing past the rate limit, no one-time link twice, and no token or secret
in any page."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx2
import pytest

from engine.api.app import create_app
from engine.console import login_link
from engine.console.auth import COOKIE, LOGIN_ATTEMPTS
from engine.engine import Engine, Settings
from tests.auth.harness import API_KEY, AUTH, PUBLIC_URL, SECRET_KEY, connect, engine_client
from tests.console.helpers import HTML, csrf_of, log_in
from tests.e2e.helpers import drain

pytestmark = pytest.mark.anyio

PAGES = ["/console/vendors", "/console/connections", "/console/jobs", "/console/samples",
         "/console/users/user-1/samples", "/console/outbound"]


async def test_pages_and_actions_need_a_login(env, clock):
    async with engine_client(env, clock) as (_, client):
        for path in PAGES:
            browser = await client.get(path, headers=HTML)
            assert browser.status_code == 303, path
            assert browser.headers["location"].startswith("/console/login?next=")
            api = await client.get(path)
            assert api.status_code == 401 and api.json()["error"]["code"] == "login_required", path
        action = await client.post("/console/jobs/job_1/retry", data={"csrf": "x", "confirm": "yes"})
        assert action.status_code == 401
        client.cookies.set(COOKIE, "a.1999999999.b", path="/console")
        assert (await client.get("/console/vendors", headers=HTML)).status_code == 303


async def test_login_sets_a_strict_httponly_cookie_with_a_lifetime_and_logout_ends_it(env, clock):
    async with engine_client(env, clock) as (_, client):
        form = await client.get("/console/login", headers=HTML)
        answer = await client.post("/console/login", headers=HTML,
                                   data={"csrf": csrf_of(form.text), "api_key": API_KEY})
        assert answer.status_code == 303
        cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith(COOKIE))
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite", "max-age", "path"} <= attributes
        assert "samesite=strict" in cookie.lower() and "max-age=28800" in cookie.lower()
        session = client.cookies.get(COOKIE)
        jobs = await client.get("/console/jobs", headers=HTML)
        assert jobs.status_code == 200 and "Content-Security-Policy" in jobs.headers
        assert (await client.post("/console/logout", data={"csrf": csrf_of(jobs.text)})).status_code == 303
        client.cookies.set(COOKIE, session, path="/console")  # the old cookie, kept by someone
        assert (await client.get("/console/jobs", headers=HTML)).status_code == 303


async def test_a_wrong_key_is_refused_and_attempts_are_rate_limited(env, clock):
    async with engine_client(env, clock) as (_, client):
        form = await client.get("/console/login", headers=HTML)
        wrong = await client.post("/console/login", headers=HTML, data={"csrf": csrf_of(form.text), "api_key": "nope"})
        assert wrong.status_code == 401 and f"{COOKIE}=" not in wrong.headers.get("set-cookie", "")
        for _ in range(LOGIN_ATTEMPTS - 1):  # each answer is a fresh form with a fresh token
            wrong = await client.post("/console/login", headers=HTML,
                                      data={"csrf": csrf_of(wrong.text), "api_key": "nope"})
            assert wrong.status_code == 401
        token = csrf_of(wrong.text)
        limited = await client.post("/console/login", data={"csrf": token, "api_key": API_KEY})
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        assert client.cookies.get(COOKIE) is None
        clock.advance(300)  # the window passes
        assert (await client.post("/console/login", headers=HTML,
                                  data={"csrf": token, "api_key": API_KEY})).status_code == 303


async def test_forms_refuse_a_missing_or_wrong_csrf_token(env, clock, sim):
    sim.state.add_user("oura", days=3)
    async with engine_client({**env, "ENGINE_INITIAL_SYNC": "0"}, clock) as (engine, client):
        assert (await connect(client, "oura", "user-1")).status_code == 200
        form = await client.get("/console/login", headers=HTML)
        no_token = await client.post("/console/login", headers=HTML, data={"api_key": API_KEY})
        assert no_token.status_code == 403 and "csrf_invalid" in no_token.text
        csrf = await log_in(client, API_KEY)
        other = httpx2.AsyncClient(transport=client._transport, base_url=PUBLIC_URL)  # a second session
        async with other:
            foreign = await log_in(other, API_KEY)
        disconnect = "/console/connections/oura/user-1/disconnect"
        for token in (None, "", "garbage", foreign, csrf + "x"):
            data = {"confirm": "yes"} if token is None else {"confirm": "yes", "csrf": token}
            refused = await client.post(disconnect, data=data)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_invalid", token
        assert (await engine.store.get_connection("oura", "user-1")).status == "active"
        asked = await client.post(disconnect, headers=HTML, data={"csrf": csrf})
        assert asked.status_code == 200 and 'name="confirm" value="yes"' in asked.text  # asks first
        assert (await engine.store.get_connection("oura", "user-1")).status == "active"
        done = await client.post(disconnect, data={"csrf": csrf, "confirm": "yes"})
        assert done.status_code == 303
        assert (await engine.store.get_connection("oura", "user-1")).status == "revoked"
        assert form.status_code == 200


async def test_no_token_or_secret_appears_in_any_page(env, clock, sim):
    sim.state.add_user("oura", days=3)
    async with engine_client({**env, "ENGINE_INITIAL_SYNC": "0"}, clock) as (engine, client):
        assert (await connect(client, "oura", "user-1")).status_code == 200
        started = await client.post("/v1/users/user-1/connections/oura/sync", json={"since": "2020-01-01"},
                                    headers=AUTH)
        assert started.status_code == 202, started.text
        assert await drain(engine) > 0
        connection = await engine.store.get_connection("oura", "user-1")
        secrets = {API_KEY, SECRET_KEY, connection.access_token, connection.refresh_token,
                   *(value for name, value in env.items() if name.endswith("_SECRET") and value)}
        secrets.discard(None)
        assert len(secrets) >= 4
        await log_in(client, API_KEY)
        sync = f"/console/syncs/{started.json()['sync_id']}"
        for path in [*PAGES, "/console/users/user-1/samples?type=steps&range=all", sync, f"{sync}/progress"]:
            page = await client.get(path, headers=HTML)
            assert page.status_code == 200, (path, page.text[:300])
            leaked = [s for s in secrets if s in page.text]
            assert not leaked, path


async def test_keyless_runs_open_the_console_once_per_link_and_to_loopback_only(env, clock):
    keyless = {k: v for k, v in env.items() if k != "ENGINE_API_KEY"}
    engine = Engine(Settings.from_env(keyless), clock=clock)
    async with engine:
        app = create_app(engine)
        link = urlsplit(login_link(engine))
        assert link.path == "/console/login/link"
        local = httpx2.ASGITransport(app=app, client=("127.0.0.1", 50000))
        remote = httpx2.ASGITransport(app=app, client=("203.0.113.9", 50000))
        async with httpx2.AsyncClient(transport=remote, base_url=PUBLIC_URL) as outsider:
            refused = await outsider.get(f"{link.path}?{link.query}", headers=HTML)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "loopback_only"
        async with httpx2.AsyncClient(transport=local, base_url=PUBLIC_URL) as browser:
            form = await browser.get("/console/login", headers=HTML)
            assert "one-time login link" in form.text and 'name="api_key"' not in form.text
            assert (await browser.get("/console/vendors", headers=HTML)).status_code == 303
            opened = await browser.get(f"{link.path}?{link.query}", headers=HTML)
            assert opened.status_code == 303 and opened.headers["location"] == "/console"
            assert (await browser.get("/console/vendors", headers=HTML)).status_code == 200
        async with httpx2.AsyncClient(transport=local, base_url=PUBLIC_URL) as again:
            replayed = await again.get(f"{link.path}?{link.query}", headers=HTML)
            assert replayed.status_code == 401 and "login_link_invalid" in replayed.text
            tampered = await again.get(f"{link.path}?{link.query[:-2]}xx", headers=HTML)
            assert tampered.status_code == 401
