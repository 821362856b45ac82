"""`verify: {type: signature}`: deliveries signed with a private key generated here, checked by the
engine with the public key alone, through the real webhook route into a real SQLite store."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from engine.spec.loader import load_spec
from engine.spec.trust import derived_trust
from engine.webhooks.keys import SecretSource
from engine.webhooks.verify import VerificationFailed, verify_delivery
from tests.webhooks.app_helpers import client, inbox_rows, make_app
from tests.webhooks.conftest import connect

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
SPEC_ENV = {"SIGNED_PUSH_CLIENT_ID": "push-id", "SIGNED_PUSH_CLIENT_SECRET": "push-secret"}


def pem(private) -> str:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def der_b64(private) -> str:
    return base64.b64encode(private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def signed(private, body: bytes, stamp: int) -> dict[str, str]:
    # What the vendor does: sign "<timestamp>.<body>" with its P-256 key, DER, base64.
    signature = private.sign(f"{stamp}.".encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Push-Signature": base64.b64encode(signature).decode(), "X-Push-Timestamp": str(stamp)}


@pytest.fixture(scope="module")
def vendor_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def spec():
    return load_spec(ROOT / "tests/specs/signed_push.yaml", env=SPEC_ENV)


def body(event_id: str = "evt-1", kind: str = "sleep.created") -> bytes:
    return json.dumps({"id": event_id, "user": "v-1", "type": kind, "object": "s-9"}).encode()


def test_an_asymmetric_signature_is_authenticated_trust(spec):
    assert spec.webhooks.trust == "authenticated"
    assert derived_trust(spec.webhooks.verify) == "authenticated"


async def test_signed_delivery_is_stored_and_acknowledged_204(spec, vendor_key, store, tmp_path):
    await connect(store, "signed_push", "app-user", "v-1")
    payload = body()
    env = {"SIGNED_PUSH_PUBLIC_KEY": pem(vendor_key)}
    async with client(make_app({"signed_push": spec}, store, env=env)) as http:
        first = await http.post("/v1/webhooks/signed_push", content=payload,
                                headers=signed(vendor_key, payload, int(time.time())))
        replay = await http.post("/v1/webhooks/signed_push", content=payload,
                                 headers=signed(vendor_key, payload, int(time.time())))
    for answer in (first, replay):  # the spec's ack: 204, no body, no Content-Length, its header
        assert answer.status_code == 204 and answer.content == b""
        assert "content-length" not in answer.headers and answer.headers["x-push-ack"] == "received"
    rows = inbox_rows(tmp_path / "data")
    assert [(r[0], r[1], r[4]) for r in rows] == [("signed_push", "sleep.created/evt-1", "app-user")]
    (job,) = await store.list_jobs()
    assert job.payload["action"] == "ingest"


@pytest.mark.parametrize("case", ["other_key", "tampered", "no_signature", "garbage", "stale", "other_stamp"])
async def test_forged_delivery_is_refused_with_the_declared_404(spec, vendor_key, store, tmp_path, case):
    payload = body()
    stamp = int(time.time())
    headers = signed(vendor_key, payload, stamp)
    sent = payload
    if case == "other_key":
        headers = signed(ec.generate_private_key(ec.SECP256R1()), payload, stamp)
    elif case == "tampered":
        sent = payload.replace(b"sleep.created", b"sleep.deleted")
    elif case == "no_signature":
        del headers["X-Push-Signature"]
    elif case == "garbage":
        headers["X-Push-Signature"] = "not base64!"
    elif case == "stale":
        headers = signed(vendor_key, payload, stamp - 301)
    elif case == "other_stamp":  # a valid signature does not carry over to another timestamp
        headers["X-Push-Timestamp"] = str(stamp + 1)
    env = {"SIGNED_PUSH_PUBLIC_KEY": pem(vendor_key)}
    async with client(make_app({"signed_push": spec}, store, env=env)) as http:
        answer = await http.post("/v1/webhooks/signed_push", content=sent, headers=headers)
    assert answer.status_code == 404
    # the body keeps the API's one error shape and names what failed, not the declared status
    assert answer.json()["error"]["code"] == "webhook_unauthenticated"
    assert inbox_rows(tmp_path / "data") == [] and await store.list_jobs() == []


async def test_a_missing_or_wrong_kind_of_key_is_not_configured_not_refused(spec, vendor_key, store):
    payload = body()
    headers = signed(vendor_key, payload, int(time.time()))
    ed_key = ed25519.Ed25519PrivateKey.generate()
    for env in ({}, {"SIGNED_PUSH_PUBLIC_KEY": pem(ed_key)}, {"SIGNED_PUSH_PUBLIC_KEY": "not a key"}):
        async with client(make_app({"signed_push": spec}, store, env=env)) as http:
            answer = await http.post("/v1/webhooks/signed_push", content=payload, headers=headers)
        assert answer.status_code == 409, env
        assert answer.json()["error"]["code"] == "webhook_not_configured"
        assert "BEGIN" not in answer.text


async def test_rotation_accepts_either_key_given_as_escaped_pem_or_der(spec, vendor_key, store):
    await connect(store, "signed_push", "app-user", "v-1")
    old = ec.generate_private_key(ec.SECP256R1())
    one_line_pem = pem(vendor_key).replace("\n", "\\n")  # how an env file holds a PEM on one line
    env = {"SIGNED_PUSH_PUBLIC_KEY": f"{one_line_pem},{der_b64(old)}"}
    async with client(make_app({"signed_push": spec}, store, env=env)) as http:
        for i, key in enumerate((vendor_key, old)):
            payload = body(f"evt-rot-{i}")
            answer = await http.post("/v1/webhooks/signed_push", content=payload,
                                     headers=signed(key, payload, int(time.time())))
            assert answer.status_code == 204


def _verify(yaml_text: str, tmp_path: Path, env: dict[str, str], payload: bytes, headers: dict[str, str]):
    path = tmp_path / "alt.yaml"
    path.write_text(yaml_text)
    alt = load_spec(path, env=SPEC_ENV)
    secrets = SecretSource.for_spec(alt, env=env)
    verify_delivery(alt.webhooks.verify, payload, {k.lower(): v for k, v in headers.items()}, secrets, time.time())


def _variant(verify_block: str) -> str:
    text = (ROOT / "tests/specs/signed_push.yaml").read_text()
    start = text.index("  verify:\n")
    end = text.index("  ack:\n")
    return text[:start] + verify_block + text[end:]


def test_ed25519_over_the_body_hex(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    spec_text = _variant("  verify:\n    type: signature\n    algorithm: ed25519\n"
                         "    public_key: \"{env:SIGNED_PUSH_PUBLIC_KEY}\"\n    message: \"{body}\"\n"
                         "    signature: {header: X-Sig, encoding: hex, prefix: \"ed25519=\"}\n")
    payload = body()
    env = {"SIGNED_PUSH_PUBLIC_KEY": pem(key)}
    _verify(spec_text, tmp_path, env, payload, {"X-Sig": "ed25519=" + key.sign(payload).hex()})
    with pytest.raises(VerificationFailed) as failed:
        _verify(spec_text, tmp_path, env, payload + b" ", {"X-Sig": "ed25519=" + key.sign(payload).hex()})
    assert failed.value.status == 401


def test_ecdsa_raw_r_s_base64url_and_rsa(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    payload = body()
    r, s = decode_dss_signature(key.sign(payload, ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    spec_text = _variant("  verify:\n    type: signature\n    algorithm: ecdsa_p256_sha256\n"
                         "    public_key: \"{env:SIGNED_PUSH_PUBLIC_KEY}\"\n    message: \"{body}\"\n"
                         "    signature: {header: X-Sig, encoding: base64url, format: raw}\n")
    env = {"SIGNED_PUSH_PUBLIC_KEY": pem(key)}
    _verify(spec_text, tmp_path, env, payload, {"X-Sig": base64.urlsafe_b64encode(raw).decode().rstrip("=")})
    with pytest.raises(VerificationFailed):  # r||s of another message
        r2, s2 = decode_dss_signature(key.sign(b"other", ec.ECDSA(hashes.SHA256())))
        other = r2.to_bytes(32, "big") + s2.to_bytes(32, "big")
        _verify(spec_text, tmp_path, env, payload, {"X-Sig": base64.urlsafe_b64encode(other).decode()})

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_text = _variant("  verify:\n    type: signature\n    algorithm: rsa_pkcs1_sha256\n"
                        "    public_key: \"{env:SIGNED_PUSH_PUBLIC_KEY}\"\n    message: \"{body}\"\n"
                        "    signature: {header: X-Sig}\n")
    signature = rsa_key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    _verify(rsa_text, tmp_path, {"SIGNED_PUSH_PUBLIC_KEY": pem(rsa_key)}, payload,
            {"X-Sig": base64.b64encode(signature).decode()})


def test_engine_verify_explains_and_engine_sign_refuses_without_the_private_key(spec, vendor_key):
    from engine.troubleshoot.explain import explain
    from engine.webhooks.keys import SecretNotConfigured
    from engine.webhooks.sign import sign_headers

    payload = body()
    secrets = SecretSource.for_spec(spec, env={"SIGNED_PUSH_PUBLIC_KEY": pem(vendor_key)})
    good = explain(spec, {}, payload, signed(vendor_key, payload, int(time.time())), secrets, time.time())
    assert good.scheme.startswith("signature (ecdsa_p256_sha256)") and good.verdict == "authentic"
    assert good.secret_sources == ["{env:SIGNED_PUSH_PUBLIC_KEY} = environment variable SIGNED_PUSH_PUBLIC_KEY"]
    forged = explain(spec, {}, payload + b"x", signed(vendor_key, payload, int(time.time())), secrets, time.time())
    assert (forged.verdict_status, forged.verdict) == (401, "signature does not match")
    with pytest.raises(SecretNotConfigured, match="private key"):
        sign_headers(spec.webhooks.verify, payload, secrets, now=time.time())
