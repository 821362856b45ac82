"""The OAuth2 authorization-code flow of a spec: start, complete, refresh, disconnect.

Everything vendor-specific comes from the spec's `auth` block. Hooks let other parts of the engine
act on connection changes without this module knowing them (per-user webhook subscriptions, the
initial sync).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx2

from engine.auth import pkce
from engine.auth.refresh import TokenRefresher
from engine.auth.return_to import is_allowed
from engine.auth.state import StateSigner
from engine.auth.token_claims import access_token_claims
from engine.auth.token_endpoint import TokenEndpoint, TokenSet
from engine.auth.vendor_calls import call, call_json
from engine.errors import (
    BadRequest,
    Conflict,
    ConnectionNotFound,
    EngineError,
    OAuthError,
    VendorApiError,
    VendorRetired,
)
from engine.http import TemplateValues, spec_values
from engine.mapping.timefmt import zone_parser
from engine.observability.metrics import Metrics
from engine.spec.model import Spec
from engine.store.errors import ConnectionConflict
from engine.store.port import Connection, OAuthState, Store

log = logging.getLogger("engine.auth")

ConnectionHook = Callable[[Spec, Connection], Awaitable[None]]
_SEPARATORS = {"space": " ", "comma": ","}
_MAX_CODE_CHARS = 4096


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    url: str
    state: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Connected:
    connection: Connection
    return_to: str | None  # only when still allow-listed


@dataclass(frozen=True, slots=True)
class Disconnected:
    vendor: str
    user_id: str
    revoked: bool  # the vendor confirmed the revoke request (False when the spec has none)
    errors: tuple[str, ...]  # vendor calls that failed; tokens were purged regardless


def retired_message(spec: Spec) -> str:
    """What a retired vendor's refusal says: when it ended and what replaces it."""
    info = spec.retirement
    message = f"{spec.name} ({spec.id}) is retired"
    if info is not None and info.turned_off:
        message += f"; its API was turned off on {info.turned_off}"
    elif info is not None and info.support_ended:
        message += f"; its support ended on {info.support_ended}"
    if info is not None and info.successor:
        message += f"; connect {info.successor} instead"
    return message


class OAuth:
    def __init__(
        self,
        *,
        store: Store,
        http: httpx2.AsyncClient,
        spec_for: Callable[[str], Spec],
        redirect_uri: Callable[[str], str],
        webhook_url: Callable[[str], str],
        state_secrets: Sequence[str],
        return_to_allowlist: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        """`spec_for(vendor)` returns a configured spec or raises the matching `EngineError`."""
        self._store = store
        self._http = http
        self._spec_for = spec_for
        # Retired vendors that may still be connected (ENGINE_ALLOW_RETIRED: a simulator's).
        self.allow_retired: frozenset[str] = frozenset()
        self.redirect_uri = redirect_uri
        self.webhook_url = webhook_url
        self._signer = StateSigner(state_secrets)
        self.return_to_allowlist = return_to_allowlist
        self._clock = clock
        self.token_endpoint = TokenEndpoint(http, clock=clock)
        self.refresher = TokenRefresher(store, self.token_endpoint, redirect_uri=redirect_uri, clock=clock,
                                        metrics=metrics)
        self._on_connected: list[ConnectionHook] = []
        self._on_disconnecting: list[ConnectionHook] = []

    # ------------------------------------------------------------------ hooks

    def on_connected(self, hook: ConnectionHook) -> None:
        """Run `hook(spec, connection)` after each successful connect (errors are logged)."""
        self._on_connected.append(hook)

    def on_disconnecting(self, hook: ConnectionHook) -> None:
        """Run `hook(spec, connection)` before tokens are revoked and purged (errors are logged)."""
        self._on_disconnecting.append(hook)

    # ------------------------------------------------------------------ start

    async def authorization_url(
        self, vendor: str, user_id: str, *, return_to: str | None = None, tz: str | None = None
    ) -> AuthorizationRequest:
        """The vendor's consent URL for a new connection. `tz` is the user's IANA time zone as the
        app knows it; it is kept for the connection when the spec takes a zone from the app."""
        spec = self._spec_for(vendor)
        check_user_id(user_id)
        if spec.retired and spec.id not in self.allow_retired:
            raise VendorRetired(retired_message(spec), vendor=spec.id)
        if return_to is not None and not is_allowed(return_to, self.return_to_allowlist):
            raise BadRequest("return_to is not on the allow-list of return origins",
                             code="return_to_not_allowed", vendor=vendor)
        if tz is not None and (len(tz) > 64 or zone_parser("iana")(tz) is None):
            raise BadRequest("tz must be an IANA time zone name such as Europe/Berlin",
                             code="invalid_time_zone", vendor=vendor)
        auth = spec.auth
        now = self._clock()
        if tz is not None and any(source.kind == "app" for source in spec.time_zone):
            await self._store.record_zone(spec.id, user_id, zone=tz, origin="app", since=now, now=now)
        signed = self._signer.issue(spec.id, now=now, min_length=auth.min_state_length)
        verifier = pkce.new_verifier() if auth.pkce else None
        await self._store.put_oauth_state(OAuthState(
            state_id=signed.nonce, vendor=spec.id, user_id=user_id, expires_at=float(signed.expires_at),
            pkce_verifier=verifier, return_to=return_to, created_at=now,
        ))
        redirect_uri = self.redirect_uri(spec.id)
        params: dict[str, str] = {
            "response_type": "code",
            "client_id": auth.client_id,
            "redirect_uri": redirect_uri,
        }
        if auth.scopes and auth.scope_separator != "none":
            params["scope"] = _SEPARATORS[auth.scope_separator].join(auth.scopes)
        params["state"] = signed.value
        if verifier is not None:
            params["code_challenge"] = pkce.s256_challenge(verifier)
            params["code_challenge_method"] = "S256"
        values = TemplateValues(spec_values(spec, redirect_uri=redirect_uri, user_id=user_id))
        for name, template in auth.authorize_params:
            try:
                params[name] = template.render(values)
            except (KeyError, ValueError) as error:
                raise OAuthError(f"cannot render authorize parameter {name}: {error}", vendor=spec.id) from None
        joiner = "&" if "?" in auth.authorize_url else "?"
        return AuthorizationRequest(
            url=f"{auth.authorize_url}{joiner}{urlencode(params)}",
            state=signed.value,
            expires_at=float(signed.expires_at),
        )

    # ------------------------------------------------------------------ callback

    async def take_state(self, vendor: str, state: str) -> OAuthState:
        """Check and consume a state (single use). Raises `OAuthError` with a precise code."""
        spec = self._spec_for(vendor)
        signed = self._signer.verify(spec.id, state or "", now=self._clock())
        pending = await self._store.consume_oauth_state(signed.nonce)
        if pending is None:
            raise OAuthError("state was already used or is unknown; start the connection again",
                             code="state_used", vendor=spec.id)
        if pending.vendor != spec.id:
            raise OAuthError(f"state belongs to another vendor, not {spec.id}",
                             code="state_vendor_mismatch", vendor=spec.id)
        return pending

    def allowed_return_to(self, pending: OAuthState) -> str | None:
        if pending.return_to and is_allowed(pending.return_to, self.return_to_allowlist):
            return pending.return_to
        return None

    async def complete(self, vendor: str, *, code: str, state: str) -> Connected:
        """Finish an authorization: state checked, code exchanged, identity read, connection
        stored, post-auth requests run, hooks called."""
        pending = await self.take_state(vendor, state)
        return await self.complete_with(vendor, pending, code=code)

    async def complete_with(self, vendor: str, pending: OAuthState, *, code: str) -> Connected:
        spec = self._spec_for(vendor)
        if not code or len(code) > _MAX_CODE_CHARS:
            raise OAuthError("the authorization code is missing or malformed", code="invalid_code",
                             vendor=spec.id)
        tokens = await self.token_endpoint.exchange_code(
            spec, code=code, redirect_uri=self.redirect_uri(spec.id), code_verifier=pending.pkce_verifier
        )
        vendor_user_id = await self._identity(spec, tokens)
        try:
            connection = await self._store.upsert_connection(
                spec.id, pending.user_id,
                vendor_user_id=vendor_user_id,
                scopes=tokens.scopes if tokens.scopes is not None else spec.auth.scopes,
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token,
                token_expires_at=tokens.expires_at,
            )
        except ConnectionConflict:
            raise Conflict(f"this {spec.id} account is already connected to another user",
                           code="vendor_account_in_use", vendor=spec.id) from None
        await self._post_auth(spec, connection)
        for hook in self._on_connected:
            await _run_hook(hook, spec, connection, "on_connected")
        log.info("connected", extra={"vendor": spec.id, "user_id": pending.user_id})
        return Connected(connection, self.allowed_return_to(pending))

    async def _identity(self, spec: Spec, tokens: TokenSet) -> str | None:
        identity = spec.auth.identity
        if identity is None:
            return tokens.user_id
        if identity.claims == "access_token":
            claims = access_token_claims(tokens.access_token)
            if claims is None:
                raise VendorApiError("the access token is not a JWT, so it names no user id",
                                     code="identity_failed", vendor=spec.id)
            value = identity.user_id.search(claims)
        elif identity.request is None:
            value = identity.user_id.search(tokens.document)
        else:
            body = await call_json(self._http, spec, identity.request,
                                   spec_values(spec, access_token=tokens.access_token), what="identity")
            value = identity.user_id.search(body)
        if value in (None, "") or isinstance(value, dict | list):
            raise VendorApiError("the vendor's identity answer holds no user id where the spec says",
                                 code="identity_failed", vendor=spec.id)
        return str(value)

    def connection_values(self, spec: Spec, connection: Connection) -> dict[str, Any]:
        """The template values of a request made for `connection` (its token, ids and URLs)."""
        return spec_values(
            spec,
            access_token=connection.access_token,
            user_id=connection.user_id,
            vendor_user_id=connection.vendor_user_id,
            webhook_url=self.webhook_url(spec.id),
            redirect_uri=self.redirect_uri(spec.id),
        )

    async def _post_auth(self, spec: Spec, connection: Connection) -> None:
        for index, request in enumerate(spec.auth.post_auth):
            try:
                await call(self._http, spec, request, self.connection_values(spec, connection),
                           what=f"post_auth request #{index + 1}")
            except EngineError as error:
                await self._store.set_connection_status(
                    spec.id, connection.user_id, "reauth_required", last_error=error.message)
                raise VendorApiError(f"connected, but the vendor refused a setup request: {error.message}",
                                     code="post_auth_failed", vendor=spec.id) from None

    # ------------------------------------------------------------------ tokens

    async def fresh_connection(
        self, vendor: str, user_id: str, *, force: bool = False, rejected_token: str | None = None
    ) -> Connection:
        """The connection with a usable access token, refreshing (single-flight) when due."""
        return await self.refresher.fresh_connection(
            self._spec_for(vendor), user_id, force=force, rejected_token=rejected_token)

    # ------------------------------------------------------------------ disconnect

    async def disconnect(self, vendor: str, user_id: str, *, purge: bool = True) -> Disconnected:
        """Run the spec's on_disconnect requests and revoke, then purge the tokens either way and,
        with `purge`, everything held of the user from this vendor (samples, raw archive, inbox,
        jobs, outbound health data; the connection row stays and connection.revoked still goes)."""
        spec = self._spec_for(vendor)
        connection = await self._store.get_connection(spec.id, user_id)
        if connection is None:
            raise ConnectionNotFound(f"user {user_id!r} has no {spec.id} connection", vendor=spec.id)
        errors: list[str] = []
        revoked = False
        if connection.access_token:
            try:
                connection = await self.refresher.fresh_connection(spec, user_id)
            except EngineError as error:
                errors.append(f"refresh before revoke: {error.message}")
            for hook in self._on_disconnecting:
                if not await _run_hook(hook, spec, connection, "on_disconnecting"):
                    errors.append("a disconnect hook failed")
            values = self.connection_values(spec, connection)
            for index, request in enumerate(spec.auth.on_disconnect):
                try:
                    await call(self._http, spec, request, values, what=f"on_disconnect request #{index + 1}")
                except EngineError as error:
                    errors.append(error.message)
            if spec.auth.revoke is not None:
                try:
                    await call(self._http, spec, spec.auth.revoke, values, what="revoke")
                    revoked = True
                except EngineError as error:
                    errors.append(error.message)
        await self._store.purge_tokens(spec.id, user_id, status="revoked")
        if purge:
            await self._store.delete_user_data(user_id, vendor=spec.id, reason="disconnected")
        log.info("disconnected", extra={"vendor": spec.id, "user_id": user_id, "revoked": revoked})
        return Disconnected(spec.id, user_id, revoked, tuple(errors))


async def _run_hook(hook: ConnectionHook, spec: Spec, connection: Connection, kind: str) -> bool:
    try:
        await hook(spec, connection)
        return True
    except Exception as error:  # noqa: BLE001 -- a hook's failure must not undo the change
        log.warning("%s hook failed: %s", kind, type(error).__name__, extra={"vendor": spec.id})
        return False


def check_user_id(user_id: str) -> str:
    """The app's user id when it is 1 to 256 printable characters, else `BadRequest`."""
    if not user_id or len(user_id) > 256 or any(ord(ch) < 0x20 for ch in user_id):
        raise BadRequest("user id must be 1 to 256 printable characters", code="invalid_user_id")
    return user_id
