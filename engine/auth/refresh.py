"""Fresh access tokens: proactive refresh, single-flight across every process sharing the store.

The rules, in order of importance:
- one token-endpoint call per expiry however many callers and processes ask at once (a store
  lease per connection; whoever gets it second re-reads and finds the work done);
- a rotated refresh token is committed to the store before anyone uses the new access token;
- an answer without a refresh token keeps the stored one;
- `invalid_grant` marks the connection `reauth_required` only if nobody changed its tokens in the
  meantime (compare-and-set on token_version); otherwise the newer tokens are used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from engine.auth.token_endpoint import InvalidGrant, TokenEndpoint
from engine.errors import ConnectionNotFound, EngineError, TokenError, Unavailable
from engine.observability.metrics import Metrics
from engine.spec.model import Spec
from engine.store.errors import LockTimeout
from engine.store.port import Connection, Store

log = logging.getLogger("engine.auth")

# Refresh this long before the recorded expiry (the anchors ask for at least 60 s).
REFRESH_MARGIN_S = 120.0


class TokenRefresher:
    def __init__(
        self,
        store: Store,
        endpoint: TokenEndpoint,
        *,
        redirect_uri: Callable[[str], str],
        clock: Callable[[], float] = time.time,
        margin_s: float = REFRESH_MARGIN_S,
        lock_wait_s: float = 60.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._endpoint = endpoint
        self._redirect_uri = redirect_uri
        self._clock = clock
        self._margin_s = max(60.0, margin_s)
        self._lock_wait_s = lock_wait_s
        self._metrics = metrics

    def is_fresh(self, connection: Connection) -> bool:
        expires_at = connection.token_expires_at
        return expires_at is None or expires_at - self._margin_s > self._clock()

    async def fresh_connection(
        self,
        spec: Spec,
        user_id: str,
        *,
        force: bool = False,
        rejected_token: str | None = None,
    ) -> Connection:
        """The connection with an access token good for at least the margin.

        `force` refreshes even if the recorded expiry says the token is fine (the vendor answered
        401); pass the token that was rejected as `rejected_token` so that a token already replaced
        by another caller is not refreshed again.
        """
        seen = self._usable(spec, await self._store.get_connection(spec.id, user_id), user_id)
        if not force and self.is_fresh(seen):
            return seen
        if not seen.refresh_token:
            if force:
                raise TokenError(
                    "the access token was rejected and there is no refresh token; the user must "
                    "connect again", code="reauth_required", vendor=spec.id)
            return seen
        try:
            async with self._store.refresh_lock(
                spec.id, user_id, ttl_s=spec.api.timeout_s + 30, wait_s=self._lock_wait_s
            ):
                return await self._refresh_locked(spec, user_id, seen, force, rejected_token)
        except LockTimeout:
            raise Unavailable("another token refresh for this connection is taking too long; retry",
                              code="refresh_busy", vendor=spec.id, retry_after=5) from None

    async def _refresh_locked(
        self, spec: Spec, user_id: str, seen: Connection, force: bool, rejected_token: str | None
    ) -> Connection:
        current = self._usable(spec, await self._store.get_connection(spec.id, user_id), user_id)
        changed = current.token_version != seen.token_version
        if self.is_fresh(current) and (not force or changed or
                                       (rejected_token is not None and current.access_token != rejected_token)):
            return current
        if not current.refresh_token:
            raise TokenError("there is no refresh token; the user must connect again",
                             code="reauth_required", vendor=spec.id)
        try:
            tokens = await self._endpoint.refresh(
                spec, refresh_token=current.refresh_token, redirect_uri=self._redirect_uri(spec.id)
            )
        except InvalidGrant as error:
            self._count(spec, "rejected")
            return await self._on_invalid_grant(spec, user_id, current, error)
        except EngineError:
            self._count(spec, "failed")
            raise
        self._count(spec, "ok")
        updated = await self._store.update_tokens(
            spec.id, user_id,
            expected_version=current.token_version,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,  # None keeps the stored one
            token_expires_at=tokens.expires_at,
            scopes=tokens.scopes,
        )
        if updated is None:
            # Our lease lapsed and someone else wrote newer tokens; theirs are the ones to use.
            return self._usable(spec, await self._store.get_connection(spec.id, user_id), user_id)
        log.info("refreshed tokens", extra={"vendor": spec.id, "user_id": user_id})
        return updated

    async def _on_invalid_grant(
        self, spec: Spec, user_id: str, current: Connection, error: InvalidGrant
    ) -> Connection:
        marked = await self._store.set_connection_status(
            spec.id, user_id, "reauth_required",
            last_error=f"refresh rejected: {error.message}",
            expected_version=current.token_version,
        )
        if not marked:
            latest = await self._store.get_connection(spec.id, user_id)
            if latest is not None and latest.status == "active" and latest.access_token:
                return latest
        log.warning("refresh token rejected; connection needs re-consent",
                    extra={"vendor": spec.id, "user_id": user_id})
        raise TokenError("the vendor rejected the refresh token; the user must connect again",
                         code="reauth_required", vendor=spec.id)

    def _count(self, spec: Spec, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.token_refreshed(spec.id, outcome)

    @staticmethod
    def _usable(spec: Spec, connection: Connection | None, user_id: str) -> Connection:
        if connection is None:
            raise ConnectionNotFound(f"user {user_id!r} has no {spec.id} connection", vendor=spec.id)
        if connection.status != "active" or not connection.access_token:
            code = "reauth_required" if connection.status == "reauth_required" else "not_connected"
            raise TokenError(f"the {spec.id} connection is {connection.status}; the user must connect again",
                             code=code, vendor=spec.id)
        return connection
