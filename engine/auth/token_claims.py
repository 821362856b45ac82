"""Reading the claims of an access token that is a JWT (RFC 7519), for vendors that name the user
only there.

The signature is not checked: the token is read right after the engine received it from the
vendor's own token endpoint over TLS, so its origin is already established, and the claims are
used only to learn which vendor account the connection is. A token that is not a JWT, or whose
payload is not a JSON object, has no claims.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

_MAX_TOKEN_CHARS = 16384


def access_token_claims(token: str) -> dict[str, Any] | None:
    """The JSON object in the token's payload segment, or None when the token is no JWT."""
    if len(token) > _MAX_TOKEN_CHARS:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    segment = parts[1]
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        claims = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None
