"""Logging in and out: the API key in a form, or a one-time link; then a session cookie."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from engine.console.auth import (
    COOKIE,
    CSRF_COOKIE,
    LOGIN_PATH,
    SESSION_TTL_S,
    ConsoleAuth,
    CsrfRefused,
    count_login_attempt,
    login_csrf_ok,
    new_login_csrf,
)
from engine.console.render import (
    auth_of,
    engine_of,
    error_page,
    guarded,
    page,
    read_form,
    see_other,
)
from engine.engine import Engine
from engine.errors import EngineError, Unauthorized

HOME = "/console"


def _secure(request: Request) -> bool:
    return engine_of(request).settings.public_url.startswith("https://")


def _next(value: str | None) -> str:
    """Only a console path of this site (never `//host` or a scheme)."""
    if value and value.startswith(HOME) and not value.startswith("//") and "\\" not in value:
        return value[:1024]
    return HOME


def _logged_in(request: Request, cookie: str, target: str) -> Response:
    response = see_other(target)
    response.set_cookie(COOKIE, cookie, max_age=SESSION_TTL_S, path=HOME, httponly=True,
                        samesite="strict", secure=_secure(request))
    response.delete_cookie(CSRF_COOKIE, path=LOGIN_PATH)
    return response


def _form(request: Request, *, status: int = 200, message: str | None = None, target: str = HOME) -> Response:
    token = new_login_csrf()
    keyless = not engine_of(request).settings.api_key
    response = page(request, "login.html", status=status, login_csrf=token, message=message,
                    keyless=keyless, target=target)
    response.set_cookie(CSRF_COOKIE, token, max_age=3600, path=LOGIN_PATH, httponly=True,
                        samesite="strict", secure=_secure(request))
    return response


async def login_form(request: Request) -> Response:
    if auth_of(request).session(request) is not None:
        return see_other(_next(request.query_params.get("next")))
    return _form(request, target=_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    engine = engine_of(request)
    try:
        await count_login_attempt(engine, request)
        form = await read_form(request)
        if not login_csrf_ok(request, form.get("csrf", "")):
            raise CsrfRefused("the login form's CSRF token is missing or wrong; reload the page")
        target = _next(form.get("next"))
        auth = auth_of(request)
        if not auth.key_ok(form.get("api_key", "")):
            message = ("this engine has no API key: open the one-time login link `engine serve` printed"
                       if not engine.settings.api_key else "that is not the engine's API key")
            return _form(request, status=401, message=message, target=target)
        cookie, _ = auth.new_session()
        return _logged_in(request, cookie, target)
    except EngineError as error:
        return error_page(request, error)


async def login_by_link(request: Request) -> Response:
    try:
        await count_login_attempt(engine_of(request), request)
        auth = auth_of(request)
        if not auth.use_link(request.query_params.get("t", "")):
            raise Unauthorized("this login link is not valid: it was used already, has expired or was altered",
                               code="login_link_invalid")
        cookie, _ = auth.new_session()
        return _logged_in(request, cookie, HOME)
    except EngineError as error:
        return error_page(request, error)


@guarded
async def logout(request: Request) -> Response:
    auth_of(request).end(request.state.console_session)
    response = see_other(LOGIN_PATH)
    response.delete_cookie(COOKIE, path=HOME)
    return response


def login_link(engine: Engine) -> str:
    """A one-time console login link (ten minutes) for `engine`'s public URL. `engine serve` and
    `engine demo` print one when no API key is set; it is signed with the engine's secret keys,
    so any process of the engine accepts it, once."""
    return ConsoleAuth.of(engine).login_link(engine.settings.public_url)
