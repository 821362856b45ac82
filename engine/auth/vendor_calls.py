"""Spec requests made on behalf of a connection outside of data fetching: identity, post-auth,
on-disconnect and revoke. One attempt each, with the vendor's answer checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx2

from engine.errors import VendorApiError
from engine.http import RenderError, TemplateValues, build_request, describe, response_json
from engine.spec.model import Request, Spec


async def call(
    http: httpx2.AsyncClient,
    spec: Spec,
    request: Request,
    values: Mapping[str, Any],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> httpx2.Response:
    """Send `request`; a status outside 2xx and the request's `ok_statuses` is a `VendorApiError`.
    `env` and `secrets` answer `{env:NAME}` and `{secret:NAME}` (default: the process environment)."""
    try:
        built = build_request(http, spec, request, TemplateValues(values, env=env, secrets=secrets))
    except RenderError as error:
        raise VendorApiError(f"{what}: {error}", code="request_render_failed", vendor=spec.id) from None
    try:
        response = await http.send(built)
    except httpx2.TimeoutException:
        raise VendorApiError(f"{what}: {describe(built)} timed out", code="vendor_timeout", vendor=spec.id) from None
    except httpx2.HTTPError as error:
        raise VendorApiError(
            f"{what}: {describe(built)} failed ({type(error).__name__})", vendor=spec.id
        ) from None
    status = response.status_code
    if not (200 <= status < 300 or status in request.ok_statuses):
        raise VendorApiError(f"{what}: {describe(built)} answered HTTP {status}", vendor=spec.id)
    limits = spec.limits
    if limits.error_when is not None:
        body = response_json(response)
        if body is not None and limits.error_when.search(body):
            message = limits.error_message.search(body) if limits.error_message is not None else None
            detail = str(message)[:200] if message not in (None, "") else "the vendor reported an error"
            raise VendorApiError(f"{what}: {describe(built)} failed: {detail}", vendor=spec.id)
    return response


async def call_json(
    http: httpx2.AsyncClient, spec: Spec, request: Request, values: Mapping[str, Any], *, what: str
) -> Any:
    """`call`, then the answer's JSON body; an answer without one is a `VendorApiError`."""
    body = response_json(await call(http, spec, request, values, what=what))
    if body is None:
        raise VendorApiError(f"{what}: the vendor answered without a JSON body", vendor=spec.id)
    return body
