"""Verifier-level properties: a delivery signed by an independent signer is accepted, and any
change to its body, signature, timestamp or key is rejected (401/400, never another error)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.spec.model import KvHeader, TimestampCheck, VerifyHmac
from engine.spec.template import Template
from engine.webhooks.keys import SecretSource
from engine.webhooks.verify import VerificationFailed, verify_delivery
from tests.examples import examples
from tests.webhooks.conftest import load
from tests.webhooks.signers import fitbit_headers, oura_headers, whoop_headers

NOW = 1_750_000_000.0
MANY = settings(max_examples=examples(10_000), deadline=None, suppress_health_check=[HealthCheck.too_slow])

bodies = st.binary(max_size=256)
secrets_ = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=","),
                   min_size=1, max_size=40)
mutations = st.sampled_from(["body", "signature", "key", "stale", "future", "restamp"])

_SPEC_ENV = {"WHOOP_CLIENT_ID": "i", "OURA_CLIENT_ID": "i", "FITBIT_STYLE_CLIENT_ID": "i"}
VERIFY = {name: load(name, {**_SPEC_ENV, f"{name.upper()}_CLIENT_SECRET": "x"}).webhooks.verify
          for name in ("whoop", "oura", "fitbit_style")}


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def accepts(verify, body: bytes, headers: dict[str, str], secret: str) -> bool:
    try:
        verify_delivery(verify, body, lower(headers), SecretSource(client_secret=secret), NOW)
    except VerificationFailed as failed:
        assert failed.status in (400, 401), failed.reason
        return False
    return True


def flip_signature(value: str, position: int, encoding: str) -> str:
    raw = bytearray(base64.b64decode(value) if encoding == "base64" else bytes.fromhex(value))
    raw[position % len(raw)] ^= 1 << (position % 8)
    if encoding == "base64":
        return base64.b64encode(bytes(raw)).decode()
    return raw.hex().upper() if encoding == "HEX" else raw.hex()


def flip_body(body: bytes, position: int) -> bytes:
    if not body:
        return b"x"
    data = bytearray(body)
    data[position % len(data)] ^= 1 << (position % 8)
    return bytes(data)


@MANY
@given(body=bodies, secret=secrets_, skew=st.integers(-300_000, 300_000), mutation=mutations,
       position=st.integers(0, 10_000))
def test_whoop_scheme(body, secret, skew, mutation, position):
    verify = VERIFY["whoop"]
    stamp = int(NOW * 1000) + skew
    headers = whoop_headers(secret, body, stamp)
    assert accepts(verify, body, headers, secret)
    sig, ts = "X-WHOOP-Signature", "X-WHOOP-Signature-Timestamp"
    if mutation == "body":
        assert not accepts(verify, flip_body(body, position), headers, secret)
    elif mutation == "signature":
        assert not accepts(verify, body, {**headers, sig: flip_signature(headers[sig], position, "base64")}, secret)
    elif mutation == "key":
        assert not accepts(verify, body, headers, secret + "k")
    elif mutation == "stale":
        old = int(NOW * 1000) - 300_001 - position
        assert not accepts(verify, body, whoop_headers(secret, body, old), secret)
    elif mutation == "future":
        ahead = int(NOW * 1000) + 300_001 + position
        assert not accepts(verify, body, whoop_headers(secret, body, ahead), secret)
    else:  # a fresh timestamp on an old signature
        assert not accepts(verify, body, {**headers, ts: str(stamp + 1 + position)}, secret)


@MANY
@given(body=bodies, secret=secrets_, skew=st.integers(-300, 300), mutation=mutations,
       position=st.integers(0, 10_000))
def test_oura_scheme(body, secret, skew, mutation, position):
    verify = VERIFY["oura"]
    stamp = int(NOW) + skew
    headers = oura_headers(secret, body, stamp)
    assert accepts(verify, body, headers, secret)
    sig, ts = "x-oura-signature", "x-oura-timestamp"
    if mutation == "body":
        assert not accepts(verify, flip_body(body, position), headers, secret)
    elif mutation == "signature":
        assert not accepts(verify, body, {**headers, sig: flip_signature(headers[sig], position, "HEX")}, secret)
    elif mutation == "key":
        assert not accepts(verify, body, headers, "k" + secret)
    elif mutation == "stale":
        assert not accepts(verify, body, oura_headers(secret, body, int(NOW) - 301 - position), secret)
    elif mutation == "future":
        assert not accepts(verify, body, oura_headers(secret, body, int(NOW) + 301 + position), secret)
    else:
        assert not accepts(verify, body, {**headers, ts: str(stamp + 1 + position)}, secret)


@MANY
@given(body=bodies, secret=secrets_, mutation=st.sampled_from(["body", "signature", "key", "drop"]),
       position=st.integers(0, 10_000))
def test_fitbit_style_scheme(body, secret, mutation, position):
    verify = VERIFY["fitbit_style"]
    headers = fitbit_headers(secret, body)
    assert accepts(verify, body, headers, secret)
    if mutation == "body":
        assert not accepts(verify, flip_body(body, position), headers, secret)
    elif mutation == "signature":
        sig = flip_signature(headers["X-Fitbit-Signature"], position, "base64")
        assert not accepts(verify, body, {"X-Fitbit-Signature": sig}, secret)
    elif mutation == "key":
        assert not accepts(verify, body, headers, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    else:  # the signature without its padding is not valid base64
        assert not accepts(verify, body, {"X-Fitbit-Signature": headers["X-Fitbit-Signature"].rstrip("=")}, secret)


KV_VERIFY = VerifyHmac(
    algorithm="sha512", key=Template("{env:SIGNING_KEY}"), message=Template("{timestamp}.{body}"),
    signature_header="X-Signature", encoding="hex", kv=KvHeader(signature="v1", timestamp="t"),
    timestamp=TimestampCheck(unit="s", tolerance_s=120),
)


def kv_header(key: str, body: bytes, stamp: int, extra: list[str]) -> str:
    mac = hmac.new(key.encode(), f"{stamp}.".encode() + body, hashlib.sha512).hexdigest()
    return ",".join([f"t={stamp}", *[f"v1={e}" for e in extra], f"v1={mac}"])


@MANY
@given(body=bodies, old=secrets_, new=secrets_, use_old=st.booleans(), skew=st.integers(-120, 120),
       decoys=st.lists(st.binary(min_size=64, max_size=64).map(bytes.hex), max_size=1),
       mutation=st.sampled_from(["body", "key", "stale", "future", "restamp"]), position=st.integers(0, 10_000))
def test_kv_multi_signature_scheme_with_rotation(body, old, new, use_old, skew, decoys, mutation, position):
    """`t=…,v1=…,v1=…`: any matching entry passes; both secrets of a rotation are valid."""
    stamp = int(NOW) + skew
    signer_key = old if use_old else new

    def ok(header: str, payload: bytes = body, keys: str = f"{new},{old}") -> bool:
        try:
            verify_delivery(KV_VERIFY, payload, {"x-signature": header}, SecretSource(env={"SIGNING_KEY": keys}), NOW)
        except VerificationFailed as failed:
            assert failed.status in (400, 401)
            return False
        return True

    header = kv_header(signer_key, body, stamp, decoys)
    assert ok(header)
    if mutation == "body":
        assert not ok(header, flip_body(body, position))
    elif mutation == "key":
        assert not ok(header, keys=f"{signer_key}x") or signer_key + "x" in (old, new)
    elif mutation == "stale":
        assert not ok(kv_header(signer_key, body, int(NOW) - 121 - position, decoys))
    elif mutation == "future":
        assert not ok(kv_header(signer_key, body, int(NOW) + 121 + position, decoys))
    else:
        assert not ok(header.replace(f"t={stamp}", f"t={stamp + 1 + position % 100}", 1))


@pytest.mark.parametrize("header", [
    "", "   ", "not base64!", "////", "é", "A" * 5000, "\x00abc", "YWJj", "YWJj=", "=" * 44,
])
def test_malformed_signature_header_is_rejected_cleanly(header):
    body = b'{"a":1}'
    assert not accepts(VERIFY["fitbit_style"], body, {"X-Fitbit-Signature": header}, "s")


@pytest.mark.parametrize("stamp", ["", "12a", "-5", "1e9", "１２３", "9" * 40, "1.5"])
def test_malformed_timestamp_is_rejected_cleanly(stamp):
    body = b"{}"
    headers = {**whoop_headers("s", body, int(NOW * 1000)), "X-WHOOP-Signature-Timestamp": stamp}
    assert not accepts(VERIFY["whoop"], body, headers, "s")


def test_missing_secret_is_not_configured():
    with pytest.raises(VerificationFailed) as failed:
        verify_delivery(VERIFY["whoop"], b"{}", lower(whoop_headers("s", b"{}", int(NOW * 1000))),
                        SecretSource(client_secret=""), NOW)
    assert failed.value.status == 409
