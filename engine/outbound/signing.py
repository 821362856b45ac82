"""Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-id`,
`webhook-timestamp` (seconds) and `webhook-signature`, one `v1,<base64 HMAC-SHA256 of
"id.timestamp.body">` per valid secret, space-separated, so a receiver rotating secrets accepts
either. Secrets are `whsec_` + base64 of 24 random bytes. The signing itself is the reference
package's (`standardwebhooks`)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def signature_headers(message_id: str, timestamp: int, body: str,
                      signing_secrets: Sequence[str]) -> dict[str, str]:
    moment = datetime.fromtimestamp(timestamp, UTC)
    signatures = " ".join(Webhook(secret).sign(message_id, moment, body) for secret in signing_secrets)
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signatures}
