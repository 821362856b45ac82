"""The engine's error taxonomy, shared by the Python API and the HTTP API.

Every error carries a stable machine `code`, the HTTP `status` the API answers with, the `vendor`
it concerns (when any) and, for errors that clear with time, `retry_after` in seconds. Messages are
written for the person reading them and never contain a token, secret or authorization code.
"""

from __future__ import annotations

# The one table of answer codes by HTTP status: what an error is called when nothing more specific
# names it (`ERROR_CODES`), and what a refused webhook delivery is called (`WEBHOOK_CODES`). The
# HTTP API, the webhook route and the Python API all read their codes from here.
ERROR_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 410: "gone", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "unprocessable", 429: "rate_limited", 500: "internal_error",
    503: "unavailable",
}
WEBHOOK_CODES: dict[int, str] = {
    400: "invalid_webhook", 401: "webhook_unauthenticated", 403: "webhook_forbidden",
    404: "webhook_not_handled", 405: "method_not_allowed", 409: "webhook_not_configured",
    413: "payload_too_large", 503: "store_unavailable",
}


def code_for_status(status: int) -> str:
    return ERROR_CODES.get(status, "error")


def webhook_code_for_status(status: int) -> str:
    return WEBHOOK_CODES.get(status, "webhook_error")


class EngineError(Exception):
    code: str = "engine_error"
    status: int = 500

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        vendor: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.vendor = vendor
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.vendor:
            body["vendor"] = self.vendor
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, vendor={self.vendor!r}, {self.message!r})"


class BadRequest(EngineError):
    code = "bad_request"
    status = 400


class Unauthorized(EngineError):
    code = "unauthorized"
    status = 401


class NotFound(EngineError):
    code = "not_found"
    status = 404


class VendorNotFound(NotFound):
    code = "vendor_not_found"


class ConnectionNotFound(NotFound):
    code = "connection_not_found"


class VendorNotConfigured(EngineError):
    """The spec is loaded but its client credentials are missing from the environment."""

    code = "vendor_not_configured"
    status = 409


class Conflict(EngineError):
    code = "conflict"
    status = 409


class VendorRetired(EngineError):
    """The vendor's API was shut down (`status: retired`): no new connections."""

    code = "vendor_retired"
    status = 410


class OAuthError(EngineError):
    """The authorization flow failed: bad state, denied consent, failed code exchange."""

    code = "oauth_error"
    status = 400


class TokenError(EngineError):
    """No usable access token: not connected, re-consent needed, or refresh failed."""

    code = "token_error"
    status = 409


class VendorApiError(EngineError):
    """The vendor answered an error (or something unreadable) to a request we made."""

    code = "vendor_api_error"
    status = 502


class RateLimited(EngineError):
    code = "rate_limited"
    status = 429


class WebhookError(EngineError):
    code = "webhook_error"
    status = 400


class Unavailable(EngineError):
    """A dependency (the store, a lock, the vendor) is temporarily unavailable; retry later."""

    code = "unavailable"
    status = 503
