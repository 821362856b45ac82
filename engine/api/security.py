"""Who may call the engine's own API, and what its log lines must never show.

With `ENGINE_API_KEY` set, `/v1` needs `Authorization: Bearer $ENGINE_API_KEY`. Without it, `/v1`
answers loopback clients only, judged by the ASGI scope's client address (so the rule holds under
any ASGI server, however it was started), and a request that carries `Forwarded`,
`X-Forwarded-For` or `X-Real-IP` counts as remote: a reverse proxy on the same host must not open
the API. The OAuth callback, the webhooks and the probes are public routes and stay open.

`Safeguards`, the app's outermost layer, arms the log redaction with what the loaded specs and the
settings hold (handshake query parameters, secret values, the API key) and says at start which
rule the API follows.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.errors import error_response
from engine.errors import EngineError, Unauthorized
from engine.logs import install_log_redaction
from engine.spec.secrets import spec_secrets

if TYPE_CHECKING:
    from engine.engine import Engine

log = logging.getLogger("engine.api")

FORWARDING_HEADERS = frozenset({b"forwarded", b"x-forwarded-for", b"x-real-ip"})
LOOPBACK_ONLY_MESSAGE = (
    "without ENGINE_API_KEY this API answers loopback clients only, and not through a proxy "
    "(Forwarded, X-Forwarded-For, X-Real-IP); set ENGINE_API_KEY to serve other clients"
)


def is_loopback_client(host: str | None) -> bool:
    """Whether an ASGI client address is a loopback IP (a name or no address is not)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_local_request(scope: Scope) -> bool:
    """A loopback client that came straight, not through a proxy that says it forwarded."""
    client = scope.get("client")
    if not client or not is_loopback_client(client[0]):
        return False
    return not any(name in FORWARDING_HEADERS for name, _ in scope.get("headers", ()))


class RequireApiKey:
    """Guards the protected routes: with a key, requests without it answer 401; without a key,
    requests that are not local (`is_local_request`) answer 403."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self._expected = f"Bearer {api_key}".encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._expected is None:
            if not is_local_request(scope):
                response = error_response(EngineError(LOOPBACK_ONLY_MESSAGE, code="loopback_only", status=403))
                await response(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        supplied = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                supplied = value
                break
        if not hmac.compare_digest(supplied, self._expected):
            response = error_response(
                Unauthorized("missing or wrong API key (Authorization: Bearer <key>)"),
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class Safeguards:
    """Outermost layer of the app: once the engine is open (at the end of the lifespan startup,
    or at the first request when the lifespan is not run), registers the log redactions of the
    engine and logs the API's access rule; afterwards it only passes requests on."""

    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app = app
        self.engine = engine
        self._armed = False
        install_log_redaction()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._armed:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "lifespan":
            async def send_after_startup(message: Message) -> None:
                if message["type"] == "lifespan.startup.complete":
                    self._arm()
                await send(message)

            await self.app(scope, receive, send_after_startup)
            return
        if self.engine.is_open:
            self._arm()
        await self.app(scope, receive, send)

    def _arm(self) -> None:
        if self._armed:
            return
        self._armed = True
        protect_logs(self.engine)
        if self.engine.settings.api_key:
            log.info("API: /v1 requires Authorization: Bearer <ENGINE_API_KEY>")
        else:
            log.warning("API: no ENGINE_API_KEY, so /v1 answers loopback clients only; requests "
                        "that come through a proxy (Forwarded, X-Forwarded-For, X-Real-IP) are "
                        "refused. The OAuth callback, webhooks and probes stay open")


# ---------------------------------------------------------------------------------------- logs

def protect_logs(engine: Engine) -> None:
    """Register the engine's secrets with the log redaction (see `Engine.protect_logs`)."""
    engine.protect_logs()


__all__ = ["RequireApiKey", "Safeguards", "is_local_request", "protect_logs", "spec_secrets"]
