"""The shared outbound HTTP client and the rendering of a spec `Request` into an HTTP request.

Every call the engine makes to a vendor (identity, post-auth, revoke, resource fetches) is a
compiled `model.Request` rendered here against the spec's `api` block, so templating, default
headers, authentication and timeouts behave the same everywhere.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx2

from engine.spec.model import Request, Spec
from engine.spec.template import Template, TemplateError

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CONNECT_TIMEOUT_S = 10.0
USER_AGENT = "synheart-engine"


class RenderError(ValueError):
    """A request template needed a value the caller did not provide."""


# --------------------------------------------------------------------------- client


def create_http_client(
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_connections: int = 100,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> httpx2.AsyncClient:
    """One pooled client per engine; per-request timeouts come from each spec's `api.timeout_s`."""
    _install_log_redaction()
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(timeout_s, connect=DEFAULT_CONNECT_TIMEOUT_S),
        limits=httpx2.Limits(max_connections=max_connections, max_keepalive_connections=20),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        transport=transport,
    )


# --------------------------------------------------------------------------- template values


class TemplateValues(Mapping[str, Any]):
    """Values for request templates: plain names from `values`, `{env:NAME}` from the
    environment and `{secret:NAME}` from `secrets` (e.g. secrets stored for a subscription)."""

    def __init__(
        self,
        values: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        self._values = values
        self._env = os.environ if env is None else env
        self._secrets = secrets or {}

    def __getitem__(self, key: str) -> Any:
        if key.startswith("env:"):
            return self._env[key[4:]]
        if key.startswith("secret:"):
            return self._secrets[key[7:]]
        value = self._values[key]
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class _UrlQuoted(Mapping[str, Any]):
    """Placeholder values inside a URL path are percent-encoded so an id cannot add segments."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return quote(str(self._values[key]), safe="")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def spec_values(spec: Spec, **values: Any) -> dict[str, Any]:
    """The values every request of `spec` may use, plus the caller's (None values are absent)."""
    base: dict[str, Any] = {"client_id": spec.auth.client_id, "client_secret": spec.auth.client_secret}
    base.update({k: v for k, v in values.items() if v is not None})
    return base


# --------------------------------------------------------------------------- rendering


def _render(template: Template, values: Mapping[str, Any], what: str) -> str:
    try:
        return template.render(values)
    except (TemplateError, KeyError) as error:
        raise RenderError(f"cannot render {what}: {error}") from None


def _render_json(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, Template):
        return _render(value, values, "JSON body")
    if isinstance(value, list):
        return [_render_json(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _render_json(item, values) for key, item in value.items()}
    return value


def request_url(spec: Spec, request: Request, values: Mapping[str, Any]) -> str:
    quoted = _UrlQuoted(values)
    if request.url is not None:
        return _render(request.url, quoted, "URL")
    path = _render(request.path, quoted, "path") if request.path is not None else ""
    if path and not path.startswith("/"):
        path = "/" + path
    return spec.api.base_url + path


def build_request(
    client: httpx2.AsyncClient,
    spec: Spec,
    request: Request,
    values: Mapping[str, Any],
    *,
    extra_params: Mapping[str, str] | None = None,
) -> httpx2.Request:
    """Render `request` for `spec` into an `httpx2.Request` ready for `client.send`.

    `values` must hold every placeholder the templates use (see `spec_values` and
    `TemplateValues`); `access_token` is required for `auth: bearer`. `extra_params` (pagination)
    replace same-named parameters of the request or its URL, keeping their place, and are
    appended otherwise.
    """
    url = request_url(spec, request, values)
    headers = {name: _render(template, values, f"header {name}")
               for name, template in (*spec.api.headers, *request.headers)}
    params: list[tuple[str, Any]] = [(name, _render(t, values, f"parameter {name}")) for name, t in request.params]
    set_on_url = None
    if extra_params:
        # httpx replaces a URL's own query with non-empty params: set the extras on that query
        # itself when it is the only one.
        if params or "?" not in url:
            params = _set_params(params, extra_params)
        else:
            set_on_url = extra_params
    if request.auth == "bearer":
        token = values.get("access_token")
        if not token:
            raise RenderError("this request needs the connection's access token")
        headers["Authorization"] = f"Bearer {token}"
    elif request.auth == "basic":
        headers["Authorization"] = basic_auth_header(spec.auth.client_id, spec.auth.client_secret)
    kwargs: dict[str, Any] = {}
    if request.json is not None:
        kwargs["json"] = _render_json(request.json, values)
    elif request.form is not None:
        kwargs["data"] = {name: _render(t, values, f"form field {name}") for name, t in request.form}
    prepared = client.build_request(
        request.method,
        _parsed_url(url) if "?" not in url else url,
        params=params or None,
        headers=headers,
        timeout=spec.api.timeout_s,
        **kwargs,
    )
    if set_on_url:
        target = prepared.url
        for name, value in set_on_url.items():
            target = target.copy_set_param(name, value)
        prepared.url = target
    return prepared


@lru_cache(maxsize=512)
def _parsed_url(url: str) -> httpx2.URL:
    """Parsed once: a spec's URLs repeat for every page (httpx URLs are immutable). Only URLs
    without a query string come here, so no token rendered into a query is kept."""
    return httpx2.URL(url)


def _set_params(params: list[tuple[str, Any]], extra: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``params`` with each ``extra`` name set to its one value, where it first appears."""
    merged: list[tuple[str, Any]] = []
    placed: set[str] = set()
    for name, value in params:
        if name in extra:
            if name not in placed:
                merged.append((name, extra[name]))
                placed.add(name)
        else:
            merged.append((name, value))
    merged.extend((name, value) for name, value in extra.items() if name not in placed)
    return merged


def basic_auth_header(username: str, password: str) -> str:
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def is_api_url(spec: Spec, url: str) -> bool:
    """True when `url` points at one of the spec's API hosts over https (http only on loopback)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host not in spec.api.hosts:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and host in {"127.0.0.1", "localhost", "::1"})


# --------------------------------------------------------------------------- responses


def response_json(response: httpx2.Response) -> Any:
    """The parsed JSON body, or None when the body is empty or not JSON."""
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def describe(request: httpx2.Request) -> str:
    """`METHOD scheme://host/path` without the query string (which may hold a token)."""
    return f"{request.method} {redact_url(str(request.url))}"


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


# --------------------------------------------------------------------------- logging


class _RedactQueryFilter(logging.Filter):
    """The HTTP client logs each request URL; query strings can carry tokens, so drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx2.URL) else arg for arg in record.args
            )
        return True


_redaction_installed = False


def _install_log_redaction() -> None:
    global _redaction_installed
    if not _redaction_installed:
        logging.getLogger("httpx2").addFilter(_RedactQueryFilter())
        _redaction_installed = True
