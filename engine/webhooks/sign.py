"""Produce the headers a vendor would send with a delivery, from the spec's `verify` block.

The counterpart of `verify.py` for local testing (`engine sign`): with it anyone can curl a
correctly signed webhook at a running engine. The first value of a rotated secret list signs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from engine.spec.model import (
    Verify,
    VerifyBodyEquals,
    VerifyHeaderEquals,
    VerifyHmac,
    VerifySignature,
)
from engine.webhooks.keys import SecretNotConfigured, SecretSource, candidates
from engine.webhooks.message import build_message

_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def sign_headers(
    verify: Verify, body: bytes, secrets: SecretSource, *, now: float, timestamp: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers to send with `body`; `timestamp` overrides the current time (in the spec's unit).
    `headers` are other headers of the delivery the message template may name.
    Raises `SecretNotConfigured` when a secret is missing."""
    if isinstance(verify, VerifyHeaderEquals):
        return {verify.header: candidates(verify.value, secrets)[0]}
    if isinstance(verify, VerifyBodyEquals):
        return {}  # the secret travels in the body itself: the body must already carry it
    if isinstance(verify, VerifySignature):
        raise SecretNotConfigured("the vendor's private key, which only the vendor holds (an asymmetric "
                                  "signature cannot be made from the spec's public key)")
    if not isinstance(verify, VerifyHmac):
        return {}
    key = candidates(verify.key, secrets)[0]
    out: dict[str, str] = {}
    if verify.timestamp is not None or (verify.kv and verify.kv.timestamp):
        if timestamp is None:
            unit = verify.timestamp.unit if verify.timestamp else "s"
            timestamp = str(int(now * 1000) if unit == "ms" else int(now))
        if verify.timestamp is not None and verify.timestamp.header:
            out[verify.timestamp.header] = timestamp
    given = {k.lower(): v for k, v in {**(headers or {}), **out}.items()}
    message = build_message(verify.message, body, lambda name: given.get(name.lower()), timestamp)
    mac = hmac.new(key.encode("utf-8"), message, _DIGESTS[verify.algorithm]).digest()
    if verify.encoding == "base64":
        signature = base64.b64encode(mac).decode("ascii")
    else:
        signature = mac.hex().upper() if verify.encoding == "HEX" else mac.hex()
    signature = verify.prefix + signature
    if verify.kv is not None:
        entries = []
        if verify.kv.timestamp and timestamp is not None:
            entries.append(f"{verify.kv.timestamp}={timestamp}")
        entries.append(f"{verify.kv.signature}={signature}")
        signature = verify.kv.separator.join(entries)
    out[verify.signature_header] = signature
    return out

