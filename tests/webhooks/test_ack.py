"""`webhooks.ack`: the answer to an accepted and to a refused delivery is data, sent through the
real webhook route; without a declaration the engine answers 200 + summary and the API's one
error shape. Handshakes keep their own statuses."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from engine.spec.errors import SpecError
from engine.spec.loader import load_spec
from tests.webhooks.app_helpers import client, make_app
from tests.webhooks.conftest import connect

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
SPEC_ENV = {"SIGNED_PUSH_CLIENT_ID": "push-id", "SIGNED_PUSH_CLIENT_SECRET": "push-secret"}
KEY = ec.generate_private_key(ec.SECP256R1())
ENV = {"SIGNED_PUSH_PUBLIC_KEY": KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()}


def spec_with_ack(tmp_path: Path, ack_block: str):
    text = (ROOT / "tests/specs/signed_push.yaml").read_text()
    start, end = text.index("  ack:\n"), text.index("  events:")
    path = tmp_path / "signed_push.yaml"
    path.write_text(text[:start] + ack_block + text[end:])
    return load_spec(path, env=SPEC_ENV)


def delivery(event_id: str = "e-1") -> tuple[bytes, dict[str, str]]:
    payload = json.dumps({"id": event_id, "user": "v-1", "type": "sleep.created", "object": "s-1"}).encode()
    stamp = int(time.time())
    signature = KEY.sign(f"{stamp}.".encode() + payload, ec.ECDSA(hashes.SHA256()))
    return payload, {"X-Push-Signature": base64.b64encode(signature).decode(), "X-Push-Timestamp": str(stamp)}


async def post(spec, store, payload, headers):
    async with client(make_app({spec.id: spec}, store, env=ENV)) as http:
        return await http.post(f"/v1/webhooks/{spec.id}", content=payload, headers=headers)


async def test_a_declared_json_body_is_sent_exactly(tmp_path, store):
    # COROS-style: the vendor retries anything but its own success document.
    spec = spec_with_ack(tmp_path, '  ack:\n    accepted: {status: 200, body: {result: "0000", message: OK}}\n'
                                   '    refused: {status: 401, body: {result: "1001"}}\n')
    await connect(store, "signed_push", "u", "v-1")
    payload, headers = delivery()
    ok = await post(spec, store, payload, headers)
    assert ok.status_code == 200 and ok.content == b'{"result":"0000","message":"OK"}'
    assert ok.headers["content-type"] == "application/json" and ok.headers["content-length"] == "32"
    bad = await post(spec, store, payload, {**headers, "X-Push-Signature": base64.b64encode(b"x" * 70).decode()})
    assert bad.status_code == 401 and bad.content == b'{"result":"1001"}'
    assert len(await store.list_jobs()) == 1


async def test_a_status_alone_keeps_the_engines_body(tmp_path, store):
    spec = spec_with_ack(tmp_path, "  ack:\n    accepted: {status: 202}\n")
    await connect(store, "signed_push", "u", "v-1")
    payload, headers = delivery()
    ok = await post(spec, store, payload, headers)
    assert ok.status_code == 202 and ok.json() == {"received": 1, "new": 1, "jobs": 1}
    refused = await post(spec, store, payload, {**headers, "X-Push-Timestamp": "1"})  # no refused ack
    assert refused.status_code == 401
    assert refused.json() == {"error": {"code": "webhook_unauthenticated", "message": "timestamp is too old"}}


async def test_without_ack_the_default_answers_stand(tmp_path, store):
    spec = spec_with_ack(tmp_path, "")
    assert spec.webhooks.ack.accepted is None and spec.webhooks.ack.refused is None
    await connect(store, "signed_push", "u", "v-1")
    payload, headers = delivery()
    ok = await post(spec, store, payload, headers)
    assert ok.status_code == 200 and ok.json() == {"received": 1, "new": 1, "jobs": 1}


async def test_a_malformed_body_and_a_missing_key_keep_the_engines_answers(tmp_path, store):
    spec = spec_with_ack(tmp_path, "  ack:\n    accepted: {status: 204}\n    refused: {status: 404}\n")
    stamp = int(time.time())
    junk = b"{not json"
    signature = KEY.sign(f"{stamp}.".encode() + junk, ec.ECDSA(hashes.SHA256()))
    answer = await post(spec, store, junk, {"X-Push-Signature": base64.b64encode(signature).decode(),
                                            "X-Push-Timestamp": str(stamp)})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_webhook"
    async with client(make_app({spec.id: spec}, store, env={})) as http:
        payload, headers = delivery()
        unconfigured = await http.post("/v1/webhooks/signed_push", content=payload, headers=headers)
    assert unconfigured.status_code == 409


@pytest.mark.parametrize(("block", "code"), [
    ("  ack:\n    accepted: {status: 204, body: {ok: true}}\n", "ack.body_on_204"),
    ("  ack:\n    accepted: {status: 200, headers: {Content-Length: '3'}}\n", "ack.header_name"),
    ("  ack:\n    accepted: {status: 200, headers: {'bad name': x}}\n", "ack.header_name"),
    ("  ack:\n    accepted: {status: 200, headers: {X-A: \"caf\u00e9\"}}\n", "ack.header_value"),
    ("  ack:\n    accepted: {status: 404}\n", "schema.range"),
    ("  ack:\n    refused: {status: 200}\n", "schema.range"),
    ("  ack:\n    accepted: {body: {}}\n", "schema.missing_key"),
])
def test_invalid_acks_fail_validation(tmp_path, block, code):
    with pytest.raises(SpecError) as failed:
        spec_with_ack(tmp_path, block)
    assert code in [issue.code for issue in failed.value.issues], failed.value.issues
