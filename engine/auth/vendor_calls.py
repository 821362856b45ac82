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
) -> httpx2.Response:
    """Send `request`; a status outside 2xx and the request's `ok_statuses` is a `VendorApiError`."""
    try:
        built = build_request(http, spec, request, TemplateValues(values))
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
    return response


async def call_json(
    http: httpx2.AsyncClient, spec: Spec, request: Request, values: Mapping[str, Any], *, what: str
) -> Any:
    response = await call(http, spec, request, values, what=what)
    body = response_json(response)
    if body is None:
        raise VendorApiError(f"{what}: the vendor answered without a JSON body", vendor=spec.id)
    return body
