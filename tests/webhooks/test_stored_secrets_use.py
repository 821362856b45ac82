"""Stored `{secret:NAME}` values are read only for specs whose verification needs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from engine.webhooks.keys import uses_stored_secrets
from engine.webhooks.receive import WebhookReceiver, WebhookRequest
from tests.webhooks.conftest import WHOOP_SECRET, connect, load
from tests.webhooks.signers import whoop_headers

pytestmark = pytest.mark.anyio

POLAR_ENV = {"POLAR_CLIENT_ID": "polar-id", "POLAR_CLIENT_SECRET": "polar-secret"}


def test_only_secret_placeholders_need_the_store(specs) -> None:
    polar = load("polar", env=POLAR_ENV)
    assert polar.webhooks is not None and uses_stored_secrets(polar.webhooks)
    assert not uses_stored_secrets(specs["whoop"].webhooks)
    assert not uses_stored_secrets(specs["oura"].webhooks)  # env: and client_secret only


class CountingSecrets:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.calls = 0

    async def __call__(self, vendor: str) -> dict[str, str]:
        self.calls += 1
        return self.values


async def test_a_client_secret_delivery_does_not_read_stored_secrets(specs, store) -> None:
    await connect(store, "whoop", "u1", "10129")
    secrets = CountingSecrets({})
    receiver = WebhookReceiver(specs, store, stored_secrets=secrets)
    body = json.dumps({"user_id": 10129, "id": "s1", "type": "sleep.updated", "trace_id": "t1"}).encode()
    headers = {k.lower(): v for k, v in whoop_headers(WHOOP_SECRET, body, int(time.time() * 1000)).items()}
    answer = await receiver.handle("whoop", WebhookRequest("POST", headers, body=body))
    assert answer.status == 200 and answer.json["jobs"] == 1
    assert secrets.calls == 0


async def test_a_stored_key_is_read_for_every_delivery_so_a_new_key_applies_at_once(store) -> None:
    polar = load("polar", env=POLAR_ENV)
    secrets = CountingSecrets({"signature_secret_key": "first-key"})
    receiver = WebhookReceiver({"polar": polar}, store, stored_secrets=secrets)
    body = json.dumps({"event": "EXERCISE", "user_id": 1, "entity_id": "e1",
                       "timestamp": "2026-01-01T00:00:00Z", "url": "https://www.polaraccesslink.com/x"}).encode()

    def signed(key: str) -> WebhookRequest:
        signature = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        return WebhookRequest("POST", {"polar-webhook-signature": signature}, body=body)

    assert (await receiver.handle("polar", signed("first-key"))).status == 200
    secrets.values = {"signature_secret_key": "second-key"}
    assert (await receiver.handle("polar", signed("first-key"))).status == 401
    assert (await receiver.handle("polar", signed("second-key"))).status == 200
    assert secrets.calls == 3
