"""Templates, the console's guard (login, keyless rule, CSRF) and its answers.

Every console page and action goes through `guarded`: without a session a browser is sent to the
login form and anything else gets a 401 in the API's error shape; a POST must carry the session's
CSRF token. Pages answer with a strict Content-Security-Policy (scripts and styles from the
console's own static files only) and are never cached. Errors are an HTML page for a browser;
for other clients they are raised to the app's handlers, which answer the API's JSON shape.
The API's keyless rule (direct loopback clients only) is applied where the app mounts the console.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from engine.console.auth import LOGIN_PATH, ConsoleAuth, CsrfRefused, Session
from engine.engine import Engine
from engine.errors import EngineError, Unauthorized

MAX_FORM_BYTES = 16 * 1024
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store", "X-Frame-Options": "DENY",
                "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}

Handler = Callable[[Request], Awaitable[Response]]


def when(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{sign}{math.floor(seconds / size)} {unit}"
    return f"{sign}{int(seconds)} s"


def ago(epoch: float | None, now: float) -> str:
    return "never" if epoch is None else f"{duration(now - epoch)} ago"


_ENV = Environment(loader=PackageLoader("engine.console", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True))
_ENV.filters.update(when=when, duration=duration)


def engine_of(request: Request) -> Engine:
    return request.app.state.engine


def auth_of(request: Request) -> ConsoleAuth:
    auth = getattr(request.app.state, "console_auth", None)
    if auth is None:
        auth = request.app.state.console_auth = ConsoleAuth.of(engine_of(request))
    return auth


def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    engine = engine_of(request)
    session: Session | None = getattr(request.state, "console_session", None)
    body = _ENV.get_template(template).render(
        request=request, session=session, csrf=session.csrf if session else "", now=engine.clock(),
        ago=lambda epoch: ago(epoch, engine.clock()), **values)
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def error_page(request: Request, error: EngineError) -> Response:
    if "text/html" not in request.headers.get("accept", ""):
        raise error
    response = page(request, "error.html", status=error.status, error=error)
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(math.ceil(error.retry_after))
    return response


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form of at most MAX_FORM_BYTES (last value of a repeated field wins)."""
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise EngineError(f"the form is larger than {MAX_FORM_BYTES} bytes", code="payload_too_large",
                              status=413)
        chunks.append(chunk)
    text = b"".join(chunks).decode("utf-8", "replace")
    return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=64))


def guarded(handler: Handler) -> Handler:
    """A console page or action: refuses requests without a session (and POSTs without its CSRF
    token); the checked form is `request.state.form`. Engine errors become an error page."""

    async def endpoint(request: Request) -> Response:
        try:
            session = auth_of(request).session(request)
            if session is None:
                if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303,
                                            headers={"Cache-Control": "no-store"})
                raise Unauthorized("log in to the console first", code="login_required")
            request.state.console_session = session
            if request.method == "POST":
                form = await read_form(request)
                if not auth_of(request).csrf_ok(session, form.get("csrf", "")):
                    raise CsrfRefused("the form's CSRF token is missing or wrong; reload the page and try again")
                request.state.form = form
            return await handler(request)
        except EngineError as error:
            return error_page(request, error)
        except ValueError as error:  # a malformed form field that a handler could not read
            return error_page(request, EngineError(str(error)[:200], code="bad_request", status=400))

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def form_of(request: Request) -> dict[str, str]:
    return dict(getattr(request.state, "form", {}))


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})
