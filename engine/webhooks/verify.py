"""Check a delivery's authenticity exactly as the spec's `verify` block says, over the raw bytes.

Every failure is a `VerificationFailed` carrying the HTTP status to answer and a short reason that
never contains a secret or a computed signature. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.spec.model import (
    Verify,
    VerifyBodyEquals,
    VerifyHeaderEquals,
    VerifyHmac,
    VerifyNone,
    VerifySignature,
)
from engine.webhooks.asymmetric import (
    KeyUnusable,
    PublicKey,
    any_valid,
    decode_signature,
    load_public_key,
)
from engine.webhooks.body import BodyError, parse_body
from engine.webhooks.keys import SecretNotConfigured, SecretSource, candidates
from engine.webhooks.message import MessageError, build_message, header_lookup

_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
_MAX_HEADER_CHARS = 4096
_MAX_SIGNATURES = 16
_MAX_TIMESTAMP_DIGITS = 16


class VerificationFailed(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class NotConfigured(VerificationFailed):
    """The engine lacks the secret needed to check this vendor's deliveries."""

    def __init__(self, reason: str) -> None:
        super().__init__(409, f"webhook verification is not configured: {reason}")


@dataclass(frozen=True, slots=True)
class SignedParts:
    """What the signature header carries: the candidate signatures and the kv timestamp, if any."""

    signatures: tuple[str, ...]
    timestamp: str | None


def verify_delivery(
    verify: Verify, body: bytes, headers: Mapping[str, str], secrets: SecretSource, now: float
) -> None:
    """Return when the delivery is authentic; raise `VerificationFailed` otherwise.
    `headers` maps lower-case names to values (latin-1 decoded, as ASGI servers give them)."""
    if isinstance(verify, VerifyNone):
        return
    if isinstance(verify, VerifyHeaderEquals):
        _verify_header_equals(verify, headers, secrets)
        return
    if isinstance(verify, VerifyBodyEquals):
        _verify_body_equals(verify, body, secrets)
        return
    if isinstance(verify, VerifySignature):
        _verify_signature(verify, body, headers, secrets, now)
        return
    _verify_hmac(verify, body, headers, secrets, now)


def _header(headers: Mapping[str, str], name: str, what: str) -> str:
    value = headers.get(name.lower())
    if value is None or not value.strip():
        raise VerificationFailed(401, f"missing {what} header {name}")
    if len(value) > _MAX_HEADER_CHARS:
        raise VerificationFailed(400, f"{what} header {name} is too long")
    if not value.isascii() or not value.isprintable():
        raise VerificationFailed(400, f"{what} header {name} is not printable ASCII")
    return value.strip()


def _verify_header_equals(
    verify: VerifyHeaderEquals, headers: Mapping[str, str], secrets: SecretSource
) -> None:
    expected = _secret_candidates(verify.value, secrets)
    given = _header(headers, verify.header, "authentication").encode("ascii")
    if not _any_equal(given, [value.encode("utf-8") for value in expected]):
        raise VerificationFailed(401, f"header {verify.header} does not match")


def body_field(verify: VerifyBodyEquals, document: Any) -> Any:
    """The value at the verify block's body field, or None."""
    for name in verify.path:
        if not isinstance(document, dict):
            return None
        document = document.get(name)
    return document


def without_body_field(verify: VerifyBodyEquals, document: Any) -> Any:
    """The document without the secret field, so the secret is not kept with the events."""
    if not isinstance(document, dict):
        return document
    head, *rest = verify.path
    if head not in document:
        return document
    copy = dict(document)
    if rest:
        copy[head] = without_body_field(VerifyBodyEquals(tuple(rest), verify.value), copy[head])
    else:
        del copy[head]
    return copy


def _verify_body_equals(verify: VerifyBodyEquals, body: bytes, secrets: SecretSource) -> None:
    expected = _secret_candidates(verify.value, secrets)
    where = ".".join(verify.path)
    try:
        document = parse_body(body, verify.body)
    except BodyError as bad:
        raise VerificationFailed(400, str(bad)) from None
    given = body_field(verify, document)
    if given is None or given == "":
        raise VerificationFailed(401, f"missing body field {where}")
    if not isinstance(given, str) or len(given) > _MAX_HEADER_CHARS:
        raise VerificationFailed(401, f"body field {where} does not match")
    if not _any_equal(given.encode("utf-8"), [value.encode("utf-8") for value in expected]):
        raise VerificationFailed(401, f"body field {where} does not match")


def _verify_hmac(
    verify: VerifyHmac, body: bytes, headers: Mapping[str, str], secrets: SecretSource, now: float
) -> None:
    keys = _secret_candidates(verify.key, secrets)
    parts = parse_signature_header(verify, _header(headers, verify.signature_header, "signature"))
    timestamp = _check_timestamp(verify, headers, parts, now)
    decoded = [_decode_signature(verify, text) for text in parts.signatures]
    wanted = [digest for digest in decoded if digest is not None]
    if not wanted:
        raise VerificationFailed(401, "signature is not valid " + _encoding_name(verify))
    try:
        message = build_message(verify.message, body, header_lookup(headers), timestamp)
    except MessageError as missing:
        raise VerificationFailed(401, f"missing header {missing.name} needed for the signature") from None
    digest = _DIGESTS[verify.algorithm]
    for key in keys:
        computed = hmac.new(key.encode("utf-8"), message, digest).digest()
        if _any_equal(computed, wanted):
            return
    raise VerificationFailed(401, "signature does not match")


def _verify_signature(
    verify: VerifySignature, body: bytes, headers: Mapping[str, str], secrets: SecretSource, now: float
) -> None:
    keys = _public_keys(verify, secrets)
    text = _header(headers, verify.signature_header, "signature")
    if verify.prefix:
        if not text.startswith(verify.prefix):
            raise VerificationFailed(401, f"signature must start with {verify.prefix!r}")
        text = text[len(verify.prefix):].strip()
    timestamp = _check_timestamp(verify, headers, SignedParts((), None), now)
    signature = decode_signature(verify, text)
    if signature is None:
        raise VerificationFailed(401, f"signature is not valid {verify.encoding}")
    try:
        message = build_message(verify.message, body, header_lookup(headers), timestamp)
    except MessageError as missing:
        raise VerificationFailed(401, f"missing header {missing.name} needed for the signature") from None
    if not any_valid(verify, keys, signature, message):
        raise VerificationFailed(401, "signature does not match")


def _public_keys(verify: VerifySignature, secrets: SecretSource) -> list[PublicKey]:
    keys = []
    for text in _secret_candidates(verify.public_key, secrets):
        key = secrets.parsed.get(text)
        if key is None:
            try:
                key = load_public_key(text, verify.algorithm)
            except KeyUnusable as unusable:
                raise NotConfigured(str(unusable)) from None
            secrets.parsed[text] = key
        keys.append(key)
    return keys


def parse_signature_header(verify: VerifyHmac, value: str) -> SignedParts:
    if verify.kv is None:
        if verify.prefix:
            if not value.startswith(verify.prefix):
                raise VerificationFailed(401, f"signature must start with {verify.prefix!r}")
            value = value[len(verify.prefix) :]
        return SignedParts((value.strip(),), None)
    signatures: list[str] = []
    timestamp: str | None = None
    for entry in value.split(verify.kv.separator):
        key, sep, item = entry.strip().partition("=")
        if not sep:
            continue
        key, item = key.strip(), item.strip()
        if key == verify.kv.signature:
            if verify.prefix and item.startswith(verify.prefix):
                item = item[len(verify.prefix) :]
            signatures.append(item)
        elif verify.kv.timestamp and key == verify.kv.timestamp:
            timestamp = item
    if not signatures:
        raise VerificationFailed(401, f"no {verify.kv.signature}= entry in {verify.signature_header}")
    return SignedParts(tuple(signatures[:_MAX_SIGNATURES]), timestamp)


def _check_timestamp(
    verify: VerifyHmac | VerifySignature, headers: Mapping[str, str], parts: SignedParts, now: float
) -> str | None:
    check = verify.timestamp
    if check is None:
        return parts.timestamp
    if check.header:
        text = _header(headers, check.header, "timestamp")
    elif parts.timestamp is not None:
        text = parts.timestamp
    else:  # only an HMAC kv header carries its own timestamp (the compiler checks)
        raise VerificationFailed(401, f"missing timestamp entry in {verify.signature_header}")
    if not (text.isdigit() and text.isascii()) or len(text) > _MAX_TIMESTAMP_DIGITS:
        raise VerificationFailed(400, "timestamp is not an integer")
    seconds = int(text) / (1000 if check.unit == "ms" else 1)
    if seconds < now - check.tolerance_s:
        raise VerificationFailed(401, "timestamp is too old")
    if seconds > now + check.tolerance_s:
        raise VerificationFailed(401, "timestamp is in the future")
    return text


def _decode_signature(verify: VerifyHmac, text: str) -> bytes | None:
    size = _DIGESTS[verify.algorithm]().digest_size
    try:
        if verify.encoding == "base64":
            raw = base64.b64decode(text.encode("ascii"), validate=True)
        else:
            raw = bytes.fromhex(text) if len(text) == size * 2 else b""
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return None
    return raw if len(raw) == size else None


def _encoding_name(verify: VerifyHmac) -> str:
    return "base64" if verify.encoding == "base64" else "hex"


def _secret_candidates(template, secrets: SecretSource) -> list[str]:
    try:
        return candidates(template, secrets)
    except SecretNotConfigured as exc:
        raise NotConfigured(str(exc)) from None


def _any_equal(given: bytes, expected: list[bytes]) -> bool:
    matched = False
    for value in expected:  # no early exit: the time taken does not depend on which one matched
        matched |= hmac.compare_digest(given, value)
    return matched
