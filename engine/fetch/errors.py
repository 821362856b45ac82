"""Errors a fetch ends with. ``retryable`` tells the worker whether running the job again later
can help (the vendor was down or unreadable) or not (the vendor refused the request)."""

from __future__ import annotations

from engine.errors import VendorApiError


class FetchError(VendorApiError):
    retryable = False


class VendorRejected(FetchError):
    """A 4xx (or an error answered with HTTP 200) that asking again cannot fix."""

    code = "vendor_rejected"


class RecordGone(VendorRejected):
    """The vendor answered 404 or 410 for a request: the object asked for no longer exists."""

    code = "vendor_record_gone"


class AccessRefused(VendorRejected):
    """The vendor answered 403: the token is valid but may not see this (withdrawn consent or
    permission)."""

    code = "vendor_access_refused"


class VendorUnavailable(FetchError):
    """Retries on transient statuses or network errors ran out; a later job run may succeed."""

    code = "vendor_unavailable"
    retryable = True


class MalformedResponse(FetchError):
    """The vendor answered something that is not the JSON the spec describes."""

    code = "vendor_malformed_response"
    retryable = True


class HostNotAllowed(FetchError):
    """A URL from a payload or a pagination link points outside the spec's API hosts."""

    code = "host_not_allowed"


class TooManyPages(FetchError):
    """Pagination went past the spec's max_pages guard (a vendor looping on its cursor)."""

    code = "too_many_pages"


class ReauthRequired(FetchError):
    """The vendor still refuses the token after a forced refresh."""

    code = "reauth_required"


class BudgetExhausted(FetchError):
    """The vendor's rate budget has no slot soon enough to wait for in place."""

    code = "rate_budget_exhausted"
    retryable = True
