"""Errors raised by the storage layer.

Callers map them to answers: `StoreUnavailable` (and `LockTimeout`) → 503 so the caller retries later,
`InvalidCursor` → 400, `ConnectionConflict` → 409, `StoreConfigError` / `SecretKeyError` → a start-up
failure with a clear message. Messages never include token values or key material.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every storage error."""


class StoreConfigError(StoreError):
    """The store cannot be opened as configured (bad URL, unsupported backend, unwritable dir)."""


class StoreUnavailable(StoreError):
    """The database could not be reached or stayed busy too long; retrying later may succeed."""


class LockTimeout(StoreUnavailable):
    """A lock (e.g. the single-flight refresh lock) was not acquired within the wait limit."""


class ConnectionConflict(StoreError):
    """The vendor account is already linked to another app user with an active connection."""

    def __init__(self, vendor: str, vendor_user_id: str, other_user_id: str) -> None:
        super().__init__(
            f"{vendor} account {vendor_user_id!r} is already connected to another user"
        )
        self.vendor = vendor
        self.vendor_user_id = vendor_user_id
        self.other_user_id = other_user_id


class InvalidCursor(StoreError, ValueError):
    """A pagination cursor that this store did not issue (or that was altered)."""


class SecretKeyError(StoreError):
    """The token-encryption key configuration is missing or invalid."""


class DecryptionError(StoreError):
    """A stored secret could not be decrypted with any configured key (or was moved between rows)."""
