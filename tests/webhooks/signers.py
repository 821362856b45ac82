"""Independent webhook signers written from the vendors' documentation (not the engine's code)."""

from __future__ import annotations

import base64
import hashlib
import hmac


def whoop_headers(client_secret: str, body: bytes, timestamp_ms: int) -> dict[str, str]:
    # base64(HMAC-SHA256(key=client secret, msg=timestamp header + raw body)), ms timestamp
    stamp = str(timestamp_ms)
    mac = hmac.new(client_secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    return {"X-WHOOP-Signature": base64.b64encode(mac).decode(), "X-WHOOP-Signature-Timestamp": stamp}


def oura_headers(client_secret: str, body: bytes, timestamp_s: int) -> dict[str, str]:
    # UPPERCASE hex(HMAC-SHA256(key=client secret, msg=x-oura-timestamp + body))
    stamp = str(timestamp_s)
    mac = hmac.new(client_secret.encode(), stamp.encode() + body, hashlib.sha256).hexdigest().upper()
    return {"x-oura-signature": mac, "x-oura-timestamp": stamp}


def fitbit_headers(client_secret: str, body: bytes) -> dict[str, str]:
    # base64(HMAC-SHA1(key=client secret + "&", msg=raw body))
    mac = hmac.new((client_secret + "&").encode(), body, hashlib.sha1).digest()
    return {"X-Fitbit-Signature": base64.b64encode(mac).decode()}
