"""What the customer receives: an outbox event rendered as the one JSON document webhooks carry
and the changes feed lists, the same bytes every time it is rendered (retries re-sign the same
body), with links back to the engine: the rest of a large change, and for connection health
events a reconnect link that mints a fresh OAuth state when the user opens it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.store.outbox_records import OutboxEvent

RECONNECT_PATH = "/v1/reconnect/{vendor}"
_HEALTH_EVENTS = ("connection.reauth_required", "connection.revoked")
_MAX_LINK_FIELD = 256


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ReconnectLinks:
    """Signed links bound to (vendor, user, expiry): HMAC-SHA256 with a key derived from each
    engine secret key (the first signs, all verify, so a key rotation keeps links valid)."""

    def __init__(self, secret_keys: Sequence[str], public_url: str) -> None:
        self._keys = [HKDF(algorithm=hashes.SHA256(), length=32, salt=b"engine/reconnect-link",
                           info=b"hmac-sha256 v1").derive(key.encode()) for key in secret_keys]
        self._public_url = public_url.rstrip("/")

    def _mac(self, key: bytes, vendor: str, user_id: str, expires: int) -> str:
        message = "\x1f".join((vendor, user_id, str(expires))).encode()
        return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode().rstrip("=")

    def link(self, vendor: str, user_id: str, expires: int) -> str:
        query = urlencode({"user": user_id, "expires": expires,
                           "sig": self._mac(self._keys[0], vendor, user_id, expires)})
        return f"{self._public_url}{RECONNECT_PATH.format(vendor=quote(vendor, safe=''))}?{query}"

    def valid(self, vendor: str, user_id: str, expires: str, signature: str, now: float) -> bool:
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12) or len(user_id) > _MAX_LINK_FIELD:
            return False
        if int(expires) <= now:
            return False
        candidates = [self._mac(key, vendor, user_id, int(expires)) for key in self._keys]
        return any(hmac.compare_digest(candidate.encode(), signature.encode()) for candidate in candidates)


class Renderer:
    def __init__(self, links: ReconnectLinks, public_url: str, link_ttl_s: float) -> None:
        self._links = links
        self._public_url = public_url.rstrip("/")
        self._link_ttl_s = link_ttl_s

    def document(self, event: OutboxEvent) -> dict[str, Any]:
        data = dict(event.payload)
        if event.event_type == "samples.changed" and data.get("samples_omitted"):
            query = urlencode({"type": data["sample_type"], "source": data["source"],
                               "since": data["range"]["since"], "until": data["range"]["until"],
                               "include_deleted": "true", "limit": 1000})
            data["next"] = f"{self._public_url}/v1/users/{quote(str(data['user_id']), safe='')}/samples?{query}"
        if event.event_type in _HEALTH_EVENTS and data.get("vendor") and data.get("user_id"):
            # valid for as long as the event may still be retried, from the event's own time
            expires = int(event.created_at + self._link_ttl_s)
            data["reconnect_url"] = self._links.link(str(data["vendor"]), str(data["user_id"]), expires)
        return {"id": event.id, "type": event.event_type, "timestamp": iso(event.created_at),
                "origin": event.origin, "data": data}

    def body(self, event: OutboxEvent) -> str:
        return json.dumps(self.document(event), separators=(",", ":"), ensure_ascii=False)
