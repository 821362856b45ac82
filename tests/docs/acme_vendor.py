"""A made-up vendor, "Acme Band", served on loopback for the guide's walk-through.

It behaves like a small real vendor cloud, independently of the engine: OAuth 2 with HTTP Basic
client auth and required PKCE (auto-consenting), an identity endpoint, cursor-paginated sleep
records (two per page), page-numbered heart rate, a revoke endpoint, and HMAC-signed webhooks
(`Acme-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "<t>.<body>">`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sandbox.server import serve_app_in_thread

CLIENT_ID = "acme-client-id"
CLIENT_SECRET = "acme-client-secret"
WEBHOOK_SECRET = "acme-webhook-secret"
VENDOR_USER = "acme-42"
SLEEP_PAGE_SIZE = 2


def sign(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The headers Acme sends with a webhook body."""
    t = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"Acme-Signature": f"t={t},v1={digest}", "Content-Type": "application/json"}


def sleep_record(index: int, night: datetime) -> dict:
    start = night.replace(hour=22, minute=10 + index) - timedelta(days=1)
    end = start + timedelta(hours=8)
    return {
        "id": f"sleep-{index}",
        "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_time": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timezone_offset": "+02:00",
        "updated_at": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "total_sleep_minutes": 420 + index,
        "stages": {"deep_minutes": 80, "light_minutes": 240 + index, "rem_minutes": 100, "awake_minutes": 20},
        "efficiency": 0.9,
        "nap": False,
    }


@dataclass
class AcmeState:
    sleep: list[dict] = field(default_factory=list)
    heart_rate: dict[str, list[dict]] = field(default_factory=dict)  # date -> samples
    codes: dict[str, dict] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> vendor user
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    revoked: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    @classmethod
    def with_data(cls, days: int = 3) -> AcmeState:
        state = cls()
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        for index in range(days):
            state.sleep.append(sleep_record(index + 1, today - timedelta(days=days - 1 - index)))
        for offset in range(days):
            day = today - timedelta(days=offset)
            state.heart_rate[day.date().isoformat()] = [
                {"time": int((day + timedelta(minutes=5 * i)).timestamp()), "bpm": 55 + i} for i in range(3)]
        return state


def _bearer_user(state: AcmeState, request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return state.tokens.get(header[7:]) if header.startswith("Bearer ") else None


def _basic_ok(request: Request) -> bool:
    expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    return hmac.compare_digest(request.headers.get("authorization", ""), expected)


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode()))


def create_app(state: AcmeState) -> Starlette:
    async def authorize(request: Request) -> Response:
        query = request.query_params
        if query.get("client_id") != CLIENT_ID or query.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        state.codes[code] = {"redirect_uri": query["redirect_uri"], "challenge": query["code_challenge"],
                             "scope": query.get("scope", "")}
        target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
        return RedirectResponse(target, status_code=302)

    async def token(request: Request) -> Response:
        if not _basic_ok(request):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = await _form(request)
        if form.get("grant_type") == "authorization_code":
            grant = state.codes.pop(str(form.get("code")), None)
            verifier = str(form.get("code_verifier", ""))
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if grant is None or grant["challenge"] != challenge or grant["redirect_uri"] != form.get("redirect_uri"):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            scope = grant["scope"]
        elif form.get("grant_type") == "refresh_token":
            if state.refresh_tokens.pop(str(form.get("refresh_token")), None) is None:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            scope = "offline sleep heartrate"
        else:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        state.tokens[access] = VENDOR_USER
        state.refresh_tokens[refresh] = VENDOR_USER
        return JSONResponse({"access_token": access, "refresh_token": refresh, "expires_in": 3600,
                             "token_type": "Bearer", "scope": scope})

    async def revoke(request: Request) -> Response:
        if not _basic_ok(request):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        token_value = str((await _form(request)).get("token", ""))
        state.tokens.pop(token_value, None)
        state.revoked.append(token_value)
        return Response(status_code=200)

    async def me(request: Request) -> Response:
        user = _bearer_user(state, request)
        if user is None:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"id": user, "name": "Ada"})

    async def sleep_list(request: Request) -> Response:
        if _bearer_user(state, request) is None:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        state.calls.append(str(request.url))
        start, end = request.query_params.get("start", ""), request.query_params.get("end", "~")
        matching = [r for r in state.sleep if start <= r["start_time"] < end]
        offset = int(request.query_params.get("cursor") or 0)
        page = matching[offset:offset + SLEEP_PAGE_SIZE]
        following = offset + SLEEP_PAGE_SIZE
        return JSONResponse({"data": page, "next_cursor": str(following) if following < len(matching) else None})

    async def sleep_get(request: Request) -> Response:
        if _bearer_user(state, request) is None:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        state.calls.append(str(request.url))
        for record in state.sleep:
            if record["id"] == request.path_params["id"]:
                return JSONResponse(record)
        return JSONResponse({"error": "not_found"}, status_code=404)

    async def heart_rate(request: Request) -> Response:
        if _bearer_user(state, request) is None:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        state.calls.append(str(request.url))
        samples = state.heart_rate.get(request.query_params.get("date", ""), [])
        page, size = int(request.query_params.get("page", 1)), int(request.query_params.get("per_page", 500))
        return JSONResponse({"samples": samples[(page - 1) * size: page * size]})

    return Starlette(routes=[
        Route("/oauth/authorize", authorize),
        Route("/oauth/token", token, methods=["POST"]),
        Route("/oauth/revoke", revoke, methods=["POST"]),
        Route("/v1/me", me),
        Route("/v1/sleep", sleep_list),
        Route("/v1/sleep/{id}", sleep_get),
        Route("/v1/heartrate", heart_rate),
    ])


@contextlib.contextmanager
def serve_acme(state: AcmeState | None = None) -> Iterator[tuple[str, AcmeState]]:
    """Run the vendor on a free loopback port; yields (base URL, state)."""
    state = state or AcmeState.with_data()
    with serve_app_in_thread(create_app(state), name="acme vendor") as base_url:
        yield base_url, state


def body_of(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Run the made-up Acme Band vendor on loopback.")
    parser.add_argument("--port", type=int, default=9100)
    port = parser.parse_args().port
    uvicorn.run(create_app(AcmeState.with_data(days=7)), host="127.0.0.1", port=port, log_level="info")


if __name__ == "__main__":
    main()
