"""Per-user subscriptions: the spec's `subscriptions.per_user.subscribe` requests run right after a
connection is made, `unsubscribe` right before its tokens are revoked."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx2

from engine.auth.flows import OAuth
from engine.auth.vendor_calls import call
from engine.errors import EngineError, VendorApiError
from engine.spec.model import Request, Spec
from engine.store.port import Connection

log = logging.getLogger("engine.subscriptions")


class UserSubscriptions:
    def __init__(self, oauth: OAuth, http: httpx2.AsyncClient, env: Mapping[str, str] | None = None) -> None:
        self._oauth = oauth
        self._http = http
        self._env = env

    async def subscribe(self, spec: Spec, connection: Connection) -> None:
        await self._run(spec, connection, spec.subscriptions.subscribe, "subscribe")

    async def unsubscribe(self, spec: Spec, connection: Connection) -> None:
        await self._run(spec, connection, spec.subscriptions.unsubscribe, "unsubscribe")

    async def _run(self, spec: Spec, connection: Connection, requests: tuple[Request, ...], kind: str) -> None:
        if not requests:
            return
        values = self._oauth.connection_values(spec, connection)
        failures: list[str] = []
        for index, request in enumerate(requests):
            try:
                await call(self._http, spec, request, values, what=f"{kind} request #{index + 1}", env=self._env)
            except EngineError as error:
                failures.append(error.message)
                log.warning("per-user %s failed: %s", kind, error.message,
                            extra={"vendor": spec.id, "user_id": connection.user_id})
        if failures:
            raise VendorApiError(f"{len(failures)} of {len(requests)} {kind} requests failed", vendor=spec.id)
        log.info("per-user %s done", kind, extra={"vendor": spec.id, "user_id": connection.user_id,
                                                  "requests": len(requests)})


def install_user_subscriptions(
    oauth: OAuth, http: httpx2.AsyncClient, env: Mapping[str, str] | None = None
) -> UserSubscriptions:
    """Hook subscribe into connect and unsubscribe into disconnect (for specs that declare them)."""
    subscriptions = UserSubscriptions(oauth, http, env)
    oauth.on_connected(subscriptions.subscribe)
    oauth.on_disconnecting(subscriptions.unsubscribe)
    return subscriptions
