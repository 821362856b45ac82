"""Authentication of the engine's own API: `Authorization: Bearer $ENGINE_API_KEY`."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from engine.api.errors import error_response
from engine.errors import Unauthorized


class RequireApiKey:
    """Rejects requests without the API key. With no key configured every request passes; the
    serve command then only binds loopback addresses."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self._expected = f"Bearer {api_key}".encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._expected is None:
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
