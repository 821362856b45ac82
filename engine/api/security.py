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

import dataclasses
import hmac
import ipaddress
import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.errors import error_response
from engine.errors import EngineError, Unauthorized
from engine.logs import add_redactions, install_log_redaction
from engine.spec.model import HandshakeQueryEcho, HandshakeVerifyCode, Spec
from engine.spec.template import Template

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

# Names of env variables, fields, headers and parameters whose values are secret.
_SECRET_NAME = re.compile(r"(token|secret|password|passwd|authorization|api[_-]?key|credential|"
                          r"signature|verif|^code$|^key$|^value$|cookie)", re.IGNORECASE)
_SECRET_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|KEY|CODE|CREDENTIAL|SIGNATURE)", re.IGNORECASE)
_AUTH_SCHEME = re.compile(r"^(?:Bearer|Basic|Token)\s+", re.IGNORECASE)


def protect_logs(engine: Engine) -> None:
    """Register the engine's secrets with the log redaction: the query parameters its handshakes
    read, every secret its specs use (client secrets, `{env:…}` and `${…}` values of keys, tokens
    and verify codes), the API key and the token-encryption keys of the environment."""
    params: set[str] = set()
    values: set[str] = set()
    env = engine.settings.env
    for spec in engine.specs.values():
        spec_params, spec_values = spec_secrets(spec, env)
        params |= spec_params
        values |= spec_values
    values.add(engine.settings.api_key or "")
    values.add(env.get("ENGINE_SECRET_KEY", ""))
    add_redactions(query_params=params, values=values)


def spec_secrets(spec: Spec, env: Any) -> tuple[set[str], set[str]]:
    """(query parameters carrying a handshake secret, secret values) of one spec."""
    params: set[str] = set()
    values: set[str] = {spec.auth.client_secret}
    if spec.webhooks is not None:
        for handshake in spec.webhooks.handshakes:
            if isinstance(handshake, HandshakeQueryEcho):
                params.add(handshake.token_param)
            elif isinstance(handshake, HandshakeVerifyCode):
                params.add(handshake.param)
    for field, template in _templates(spec, ""):
        secret_field = bool(_SECRET_NAME.search(field))
        for name in template.names:
            if name.startswith("env:") and (secret_field or _SECRET_ENV.search(name[4:])):
                values.add(env.get(name[4:], ""))
        if secret_field and not template.names and template.text:
            # a `${NAME}` secret is already substituted into the template's text
            values.add(template.text)
            values.add(_AUTH_SCHEME.sub("", template.text))
    values.discard("")
    return params, values


def _templates(value: Any, field: str) -> Iterator[tuple[str, Template]]:
    """Every template of a compiled spec, with the name of the field, header or key it sits in."""
    if isinstance(value, Template):
        yield field, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _templates(getattr(value, item.name), item.name)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _templates(item, str(key))
    elif isinstance(value, (tuple, list)):
        if len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], Template):
            yield value[0], value[1]  # a (header or parameter name, template) pair
            return
        for item in value:
            yield from _templates(item, field)
