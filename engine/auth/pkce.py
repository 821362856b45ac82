"""PKCE (RFC 7636) with the S256 method only."""

from __future__ import annotations

import secrets

from authlib.oauth2.rfc7636 import create_s256_code_challenge


def new_verifier() -> str:
    """64 characters from the unreserved set (the RFC allows 43 to 128)."""
    return secrets.token_urlsafe(48)


def s256_challenge(verifier: str) -> str:
    return create_s256_code_challenge(verifier)
