"""OAuth `state` values: random, signed, expiring, bound to one vendor.

A state reads ``<nonce>.<expires_at>.<signature>``. The signature (HMAC-SHA256 with a key derived
from the engine secret) covers the vendor, the nonce and the expiry, so a tampered, forged or
foreign-vendor state is rejected before the store is consulted. The nonce is the server-side key
of the pending authorization, which is single-use and holds the app user, return URL and PKCE
verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.errors import OAuthError

STATE_TTL_S = 600
_HKDF_SALT = b"engine/oauth-state"
_HKDF_INFO = b"hmac-sha256 v1"
_MIN_NONCE_BYTES = 32
_MAX_STATE_CHARS = 1024


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _derive(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        secret.encode("utf-8")
    )


@dataclass(frozen=True, slots=True)
class SignedState:
    value: str  # what goes into the authorization URL
    nonce: str  # the server-side key
    expires_at: int


class StateSigner:
    """Issues and checks states; several secrets for rotation (the first one signs)."""

    def __init__(self, secrets_: Sequence[str]) -> None:
        if not secrets_:
            raise ValueError("StateSigner needs at least one secret")
        self._keys = [_derive(secret) for secret in secrets_]

    def _signature(self, key: bytes, vendor: str, nonce: str, expires_at: str) -> str:
        message = b"\x00".join(part.encode("utf-8") for part in (vendor, nonce, expires_at))
        return _b64(hmac.new(key, message, hashlib.sha256).digest())

    def issue(self, vendor: str, *, now: float, min_length: int = 32, ttl_s: int = STATE_TTL_S) -> SignedState:
        expires_at = int(now) + ttl_s
        fixed = len(str(expires_at)) + 2 + 43  # separators and signature
        nonce_chars = max(min_length - fixed, math.ceil(_MIN_NONCE_BYTES * 4 / 3))
        nonce = _b64(secrets.token_bytes(math.ceil(nonce_chars * 3 / 4)))[:nonce_chars]
        signature = self._signature(self._keys[0], vendor, nonce, str(expires_at))
        return SignedState(f"{nonce}.{expires_at}.{signature}", nonce, expires_at)

    def verify(self, vendor: str, value: str, *, now: float) -> SignedState:
        """The checked state, or `OAuthError` (invalid_state / state_expired)."""
        if not value or len(value) > _MAX_STATE_CHARS or value.count(".") != 2:
            raise OAuthError("state is missing or malformed", code="invalid_state", vendor=vendor)
        nonce, expires_text, signature = value.split(".")
        if not nonce or not (expires_text.isascii() and expires_text.isdigit()) or not signature.isascii():
            raise OAuthError("state is missing or malformed", code="invalid_state", vendor=vendor)
        if not any(
            hmac.compare_digest(self._signature(key, vendor, nonce, expires_text), signature)
            for key in self._keys
        ):
            raise OAuthError(
                f"state was not issued by this engine for {vendor}, or was altered",
                code="invalid_state",
                vendor=vendor,
            )
        expires_at = int(expires_text)
        if now >= expires_at:
            raise OAuthError(
                "the authorization took too long and its state expired; start the connection again",
                code="state_expired",
                vendor=vendor,
            )
        return SignedState(value, nonce, expires_at)
