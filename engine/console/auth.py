"""Who may use the console: a signed login cookie, CSRF tokens, one-time login links.

Every value is a `StateSigner` state (nonce, expiry, HMAC over a purpose and both) under the
engine's secret keys, so a console session survives a restart, holds on every replica, and a
rotated ENGINE_SECRET_KEY (new first) keeps the sessions signed by the old one:

- the login cookie is a state for `console:session:<key fingerprint>`: changing the API key ends
  every session; its nonce is the session id;
- a form's CSRF token is a state for `console:csrf:<session id>`, valid only with that session;
  the login form, before any session, uses a double-submitted random cookie instead;
- a login link is a state for `console:link`, accepted once by this process (a replayed link
  is refused; another replica would accept it once too, within its ten minutes).

Logging in takes the API key; without one (a loopback run), only a login link printed at start
opens the console, and then only to direct loopback clients, as the API's keyless rule says.
Attempts are rate-limited per client address through the store's shared rate budgets.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request

from engine.auth.state import StateSigner
from engine.engine import Engine
from engine.errors import EngineError, OAuthError, RateLimited
from engine.store.crypto import load_secret_keys
from engine.store.port import BudgetRequest

COOKIE = "engine_console"
CSRF_COOKIE = "engine_console_login"
SESSION_TTL_S = 8 * 3600
LINK_TTL_S = 600
LOGIN_ATTEMPTS = 10  # per client address and LOGIN_WINDOW_S
LOGIN_WINDOW_S = 300.0
LOGIN_PATH = "/console/login"
LINK_PATH = "/console/login/link"


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    expires_at: int
    csrf: str


@dataclass
class ConsoleAuth:
    """The console's signer and what this process remembers (used links, ended sessions)."""

    signer: StateSigner
    api_key: str | None
    clock: Callable[[], float] = time.time
    used_links: dict[str, int] = field(default_factory=dict)
    ended: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, engine: Engine) -> ConsoleAuth:
        keys = load_secret_keys(engine.settings.env, engine.settings.data_dir,
                                allow_generate=engine.settings.uses_embedded_store)
        return cls(StateSigner(keys), engine.settings.api_key, engine.clock)

    def now(self) -> float:
        return self.clock()

    @property
    def _session_purpose(self) -> str:
        fingerprint = hashlib.sha256((self.api_key or "").encode()).hexdigest()[:16]
        return f"console:session:{fingerprint}"

    # ------------------------------------------------------------------ sessions

    def new_session(self) -> tuple[str, Session]:
        state = self.signer.issue(self._session_purpose, now=self.now(), ttl_s=SESSION_TTL_S)
        return state.value, self._session(state.nonce, state.expires_at)

    def session(self, request: Request) -> Session | None:
        value = request.cookies.get(COOKIE, "")
        if not value:
            return None
        try:
            state = self.signer.verify(self._session_purpose, value, now=self.now())
        except OAuthError:
            return None
        if state.nonce in self.ended:
            return None
        return self._session(state.nonce, state.expires_at)

    def end(self, session: Session) -> None:
        self._forget_expired()
        self.ended[session.session_id] = session.expires_at

    def _session(self, session_id: str, expires_at: int) -> Session:
        csrf = self.signer.issue(f"console:csrf:{session_id}", now=self.now(),
                                 ttl_s=max(1, expires_at - int(self.now()))).value
        return Session(session_id, expires_at, csrf)

    def csrf_ok(self, session: Session, supplied: str) -> bool:
        try:
            self.signer.verify(f"console:csrf:{session.session_id}", supplied[:1024], now=self.now())
        except OAuthError:
            return False
        return True

    # ------------------------------------------------------------------ logging in

    def key_ok(self, supplied: str) -> bool:
        if not self.api_key:
            return False
        return hmac.compare_digest(supplied.encode("utf-8", "replace"), self.api_key.encode())

    def login_link(self, public_url: str) -> str:
        state = self.signer.issue("console:link", now=self.now(), ttl_s=LINK_TTL_S)
        return f"{public_url}{LINK_PATH}?t={state.value}"

    def use_link(self, value: str) -> bool:
        """True once per valid, unexpired link."""
        try:
            state = self.signer.verify("console:link", value[:1024], now=self.now())
        except OAuthError:
            return False
        self._forget_expired()
        if state.nonce in self.used_links:
            return False
        self.used_links[state.nonce] = state.expires_at
        return True

    def _forget_expired(self) -> None:
        now = self.now()
        for remembered in (self.used_links, self.ended):
            for nonce in [n for n, expires in remembered.items() if expires <= now]:
                del remembered[nonce]


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


def login_csrf_ok(request: Request, supplied: str) -> bool:
    expected = request.cookies.get(CSRF_COOKIE, "")
    return bool(expected) and hmac.compare_digest(expected.encode(), supplied[:256].encode("utf-8", "replace"))


async def count_login_attempt(engine: Engine, request: Request) -> None:
    """One attempt from this client address; `RateLimited` past LOGIN_ATTEMPTS a window."""
    client = request.client.host if request.client else "unknown"
    budget = BudgetRequest(f"console-login\x1f{client}", rate=LOGIN_ATTEMPTS, period_s=LOGIN_WINDOW_S,
                           burst=LOGIN_ATTEMPTS)
    grant = await engine.store.acquire_budget([budget], max_wait_s=0.0, now=engine.clock())
    if not grant.granted:
        raise RateLimited("too many login attempts from this address; wait and try again",
                          retry_after=round(max(grant.wait_s, 1.0)))


class CsrfRefused(EngineError):
    code = "csrf_invalid"
    status = 403
