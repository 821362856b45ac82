"""Calls to the vendor's token endpoint and reading its answer through the spec's `token_response`.

Written on the shared httpx2 client rather than authlib's OAuth2 client: the spec decides where
the token fields live (`root`), whether an HTTP 200 is really a success (`success_when`), what the
fields are called and how expiry is expressed, none of which authlib's token model can be told.
Parameters: `token_params` go with every token-endpoint call (code exchange and refresh);
`refresh_params` are added to refresh calls and win over `token_params`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx2

from engine.errors import OAuthError, RateLimited, VendorApiError
from engine.http import TemplateValues, basic_auth_header, response_json, spec_values
from engine.spec.expr import Expr
from engine.spec.model import Spec, TokenResponse
from engine.spec.template import Template, TemplateError

# Used when neither the response nor the spec says how long an access token lives.
FALLBACK_EXPIRES_IN_S = 3600


class InvalidGrant(OAuthError):
    """The vendor rejected the authorization code or refresh token for good."""

    code = "invalid_grant"


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    scopes: tuple[str, ...] | None
    user_id: str | None
    document: Any = field(repr=False)  # the token fields object (after `root`)


def _render_params(spec: Spec, pairs: tuple[tuple[str, Template], ...], values: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for name, template in pairs:
        try:
            out[name] = template.render(values)
        except (TemplateError, KeyError) as error:
            raise OAuthError(f"cannot render token parameter {name}: {error}", vendor=spec.id) from None
    return out


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _absolute_expiry(value: Any) -> float | None:
    number = _as_float(value)
    if number is not None:
        return number / 1000 if number > 1e11 else number  # epoch milliseconds
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if parsed.tzinfo is not None:
            return parsed.timestamp()
    return None


def _scopes(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return tuple(part for part in value.replace(",", " ").split() if part)
    if isinstance(value, list):
        return tuple(str(part) for part in value)
    return None


def _error_text(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else str(value)
    return text[:limit]


def _holds(condition: Expr, body: Any) -> bool:
    return condition.search(body) not in (None, False, "", [], {})  # JMESPath truthiness


def _failure_detail(rules: TokenResponse, body: Any, status: int) -> str:
    message = rules.error_message.search(body) if rules.error_message is not None else None
    if message not in (None, ""):
        return _error_text(message)
    if status >= 400 and isinstance(body, dict) and (body.get("error_description") or body.get("error")):
        return _error_text(body.get("error_description") or body.get("error"))
    return "the response says it failed" if status < 400 else f"HTTP {status}"


def read_token_response(spec: Spec, response: httpx2.Response, *, now: float) -> TokenSet:
    """Turn a token-endpoint response into tokens, or raise the matching engine error."""
    rules = spec.auth.token_response
    body = response_json(response)
    status = response.status_code
    if status == 429:
        retry = _as_float(response.headers.get("Retry-After"))
        raise RateLimited("the token endpoint is rate limiting us", vendor=spec.id, retry_after=retry)
    if status >= 500:
        raise VendorApiError(f"the token endpoint failed with HTTP {status}", vendor=spec.id)
    for named in rules.errors:
        if (named.status is None or named.status == status) and (
                named.when is None or (isinstance(body, dict | list) and _holds(named.when, body))):
            raise OAuthError(named.message, code=named.code, status=409, vendor=spec.id)
    if (rules.invalid_grant_when is not None and isinstance(body, dict | list)
            and _holds(rules.invalid_grant_when, body)):
        raise InvalidGrant(f"the vendor rejected the grant: {_failure_detail(rules, body, status)}", vendor=spec.id)
    if status >= 400:
        error = body.get("error") if isinstance(body, dict) else None
        description = body.get("error_description") if isinstance(body, dict) else None
        detail = _error_text(description or error or f"HTTP {status}")
        if error == "invalid_grant":
            raise InvalidGrant(f"the vendor rejected the grant: {detail}", vendor=spec.id)
        raise OAuthError(f"the token endpoint refused the request: {detail}", code="token_request_failed",
                         vendor=spec.id)
    if not isinstance(body, dict | list):
        raise VendorApiError(f"the token endpoint answered HTTP {status} without a JSON body", vendor=spec.id)
    if rules.success_when is not None and not rules.success_when.search(body):
        detail = _failure_detail(rules, body, status)
        if "invalid_grant" in detail:
            raise InvalidGrant(f"the vendor rejected the grant: {detail}", vendor=spec.id)
        raise OAuthError(f"the token endpoint refused the request: {detail}", code="token_request_failed",
                         vendor=spec.id)
    document = rules.root.search(body) if rules.root is not None else body
    if not isinstance(document, dict):
        raise VendorApiError("the token response has no token object where the spec says", vendor=spec.id)
    access_token = rules.access_token.search(document)
    if not isinstance(access_token, str) or not access_token:
        raise VendorApiError("the token response holds no access token", vendor=spec.id)
    refresh_token = rules.refresh_token.search(document)
    if not isinstance(refresh_token, str) or not refresh_token:
        refresh_token = None
    expires_at = _absolute_expiry(rules.expires_at.search(document)) if rules.expires_at else None
    if expires_at is None:
        expires_in = _as_float(rules.expires_in.search(document))
        if expires_in is None or expires_in <= 0:
            expires_in = float(rules.default_expires_in or FALLBACK_EXPIRES_IN_S)
        expires_at = now + expires_in
    user_id = rules.user_id.search(document) if rules.user_id is not None else None
    return TokenSet(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=expires_at,
        scopes=_scopes(rules.scope.search(document)),
        user_id=None if user_id in (None, "") else str(user_id),
        document=document,
    )


class TokenEndpoint:
    """Code exchange and refresh against one spec's token endpoint."""

    def __init__(self, http: httpx2.AsyncClient, *, clock=time.time) -> None:
        self._http = http
        self._clock = clock

    async def exchange_code(
        self, spec: Spec, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> TokenSet:
        params = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            params["code_verifier"] = code_verifier
        values = TemplateValues(spec_values(spec, redirect_uri=redirect_uri))
        params.update(_render_params(spec, spec.auth.token_params, values))
        return await self._post(spec, params)

    async def refresh(self, spec: Spec, *, refresh_token: str, redirect_uri: str) -> TokenSet:
        params = {"grant_type": "refresh_token"}
        bearer = None
        if spec.auth.refresh_token_in == "authorization_header":
            bearer = refresh_token
        else:
            params["refresh_token"] = refresh_token
        values = TemplateValues(spec_values(spec, redirect_uri=redirect_uri))
        params.update(_render_params(spec, spec.auth.token_params, values))
        params.update(_render_params(spec, spec.auth.refresh_params, values))
        return await self._post(spec, params, bearer=bearer, url=spec.auth.refresh_url)

    async def _post(self, spec: Spec, params: dict[str, str], *, bearer: str | None = None,
                    url: str | None = None) -> TokenSet:
        headers = {"Accept": "application/json"}
        if bearer is not None:  # the compiler keeps this apart from client_secret_basic
            headers["Authorization"] = f"Bearer {bearer}"
        if spec.auth.client_auth == "client_secret_basic" and bearer is None:
            headers["Authorization"] = basic_auth_header(spec.auth.client_id, spec.auth.client_secret)
        else:
            params = {**params, "client_id": spec.auth.client_id, "client_secret": spec.auth.client_secret}
        try:
            response = await self._http.post(
                url or spec.auth.token_url, data=params, headers=headers, timeout=spec.api.timeout_s
            )
        except httpx2.TimeoutException:
            raise VendorApiError("the token endpoint timed out", code="vendor_timeout", vendor=spec.id) from None
        except httpx2.HTTPError as error:
            raise VendorApiError(
                f"the token endpoint could not be reached ({type(error).__name__})", vendor=spec.id
            ) from None
        return read_token_response(spec, response, now=self._clock())
