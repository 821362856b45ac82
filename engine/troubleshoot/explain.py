"""Explain a webhook verification step by step: which secret, which bytes, which signatures, which
clock skew. The verdict itself comes from the real verifier, so the explanation cannot disagree
with what `engine serve` answers.

Never part of the explanation: a secret's value. Expected signatures are shown because they are
digests of this one body, which is what a person debugging a signer needs to compare.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.spec.env import references
from engine.spec.model import (
    Spec,
    VerifyBodyEquals,
    VerifyHeaderEquals,
    VerifyHmac,
    VerifyNone,
    VerifySignature,
)
from engine.spec.template import Template
from engine.webhooks.keys import SecretNotConfigured, SecretSource, candidates
from engine.webhooks.message import MessageError, build_message, header_lookup
from engine.webhooks.verify import VerificationFailed, parse_signature_header, verify_delivery


@dataclass(slots=True)
class KeyCheck:
    label: str  # e.g. "ACME_WEBHOOK_SECRET value 1 of 2"
    expected: str | None  # the signature this key gives (None for header_equals)
    matches: bool


@dataclass(slots=True)
class Explanation:
    scheme: str
    secret_sources: list[str] = field(default_factory=list)
    message_template: str | None = None
    message: bytes | None = None
    received: list[str] = field(default_factory=list)
    keys: list[KeyCheck] = field(default_factory=list)
    timestamp: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    verdict_status: int = 200
    verdict: str = "authentic"

    @property
    def ok(self) -> bool:
        return self.verdict_status < 400


def secret_sources(template: Template, raw_auth: Mapping[str, Any]) -> list[str]:
    """Where each placeholder of a secret template takes its value from, by name only."""
    out: list[str] = []
    for name in dict.fromkeys(template.names):
        if name in ("client_secret", "client_id"):
            raw = raw_auth.get(name)
            variables = references(raw) if isinstance(raw, str) else []
            where = ", ".join(f"environment variable {v}" for v in variables) or "a literal in the spec"
            out.append(f"{{{name}}} = auth.{name} = {where}")
        elif name.startswith("env:"):
            out.append(f"{{{name}}} = environment variable {name[4:]}")
        elif name.startswith("secret:"):
            out.append(f"{{{name}}} = stored secret {name[7:]} (kept from the vendor's subscription answer)")
        else:
            out.append(f"{{{name}}}")
    return out


def explain(
    spec: Spec,
    raw_auth: Mapping[str, Any],
    body: bytes,
    headers: Mapping[str, str],
    secrets: SecretSource,
    now: float,
) -> Explanation:
    """`headers` with any case; `raw_auth` is the spec's auth block before ${VAR} interpolation."""
    assert spec.webhooks is not None
    verify = spec.webhooks.verify
    lowered = {name.lower(): value for name, value in headers.items()}
    if isinstance(verify, VerifyNone):
        result = Explanation("none: the vendor does not sign deliveries; every body is accepted")
    elif isinstance(verify, VerifyHeaderEquals):
        result = _explain_header_equals(verify, raw_auth, lowered, secrets)
    elif isinstance(verify, VerifyBodyEquals):
        result = Explanation(f"body_equals: body field {'.'.join(verify.path)} must equal a configured secret "
                             "(its value is not shown, it is a secret)")
        result.secret_sources = secret_sources(verify.value, raw_auth)
    elif isinstance(verify, VerifySignature):
        result = Explanation(f"signature ({verify.algorithm}) over the message template, {verify.encoding} "
                             f"in header {verify.signature_header}, checked with the vendor's public key")
        result.secret_sources = secret_sources(verify.public_key, raw_auth)
        result.message_template = verify.message.text
    else:
        result = _explain_hmac(verify, raw_auth, body, lowered, secrets, now)
    try:
        verify_delivery(verify, body, lowered, secrets, now)
    except VerificationFailed as failed:
        result.verdict_status, result.verdict = failed.status, failed.reason
    return result


def _explain_header_equals(
    verify: VerifyHeaderEquals, raw_auth: Mapping[str, Any], headers: Mapping[str, str], secrets: SecretSource
) -> Explanation:
    result = Explanation(f"header_equals: header {verify.header} must equal a configured secret")
    result.secret_sources = secret_sources(verify.value, raw_auth)
    given = headers.get(verify.header.lower())
    if given is None:
        result.problems.append(f"the delivery has no {verify.header} header")
        return result
    result.received.append(f"{verify.header}: ({len(given)} characters; not shown, it is a secret)")
    try:
        values = candidates(verify.value, secrets)
    except SecretNotConfigured as missing:
        result.problems.append(f"{missing}: set it before the engine can check deliveries")
        return result
    for index, value in enumerate(values, start=1):
        matched = hmac.compare_digest(given.strip().encode(), value.encode())
        result.keys.append(KeyCheck(f"value {index} of {len(values)}", None, matched))
    return result


def _explain_hmac(
    verify: VerifyHmac, raw_auth: Mapping[str, Any], body: bytes, headers: Mapping[str, str],
    secrets: SecretSource, now: float,
) -> Explanation:
    where = f"header {verify.signature_header}"
    if verify.kv is not None:
        where += f" as {verify.kv.separator.join(_kv_shape(verify))}"
    elif verify.prefix:
        where += f" after the prefix {verify.prefix!r}"
    result = Explanation(f"hmac-{verify.algorithm} over the message template, "
                         f"{_encoding_name(verify.encoding)} in {where}")
    result.secret_sources = secret_sources(verify.key, raw_auth)
    result.message_template = verify.message.text
    raw_signature = headers.get(verify.signature_header.lower())
    timestamp: str | None = None
    if raw_signature is None:
        result.problems.append(f"the delivery has no {verify.signature_header} header")
    else:
        try:
            parts = parse_signature_header(verify, raw_signature.strip())
            result.received.extend(parts.signatures)
            timestamp = parts.timestamp
        except VerificationFailed as failed:
            result.problems.append(failed.reason)
    if verify.timestamp is not None:
        if verify.timestamp.header:
            timestamp = headers.get(verify.timestamp.header.lower())
        result.timestamp = _timestamp_check(verify, timestamp, now, result.problems)
    try:
        result.message = build_message(verify.message, body, header_lookup(headers), timestamp)
    except MessageError as missing:
        result.problems.append(str(missing))
        return result
    try:
        keys = candidates(verify.key, secrets)
    except SecretNotConfigured as missing:
        result.problems.append(f"{missing}: set it before the engine can check deliveries")
        return result
    received = {text.strip() for text in result.received}
    label = _key_label(verify.key, raw_auth)
    for index, key in enumerate(keys, start=1):
        mac = hmac.new(key.encode("utf-8"), result.message, getattr(hashlib, verify.algorithm)).digest()
        expected = _encode(mac, verify.encoding)
        matched = any(_same_signature(expected, given, verify.encoding) for given in received)
        result.keys.append(KeyCheck(f"{label} {index} of {len(keys)}", verify.prefix + expected, matched))
    return result


def _key_label(template: Template, raw_auth: Mapping[str, Any]) -> str:
    """`ACME_WEBHOOK_SECRET value` when one variable holds the key(s), else `key`."""
    names = list(dict.fromkeys(template.names))
    if len(names) != 1:
        return "key"
    name = names[0]
    if name.startswith("env:"):
        return f"{name[4:]} value"
    if name.startswith("secret:"):
        return f"stored secret {name[7:]} value"
    raw = raw_auth.get(name)
    variables = references(raw) if isinstance(raw, str) else []
    return f"{variables[0]} value" if len(variables) == 1 else "key"


def _timestamp_check(verify: VerifyHmac, text: str | None, now: float, problems: list[str]) -> dict[str, Any]:
    check = verify.timestamp
    assert check is not None
    info: dict[str, Any] = {"value": text, "unit": check.unit, "tolerance_s": check.tolerance_s,
                            "now": round(now, 3)}
    if text is None:
        problems.append("the delivery carries no timestamp")
        return info
    stripped = text.strip()
    if not (stripped.isascii() and stripped.isdigit()):
        problems.append(f"timestamp {stripped[:40]!r} is not an integer")
        return info
    sent = int(stripped) / (1000 if check.unit == "ms" else 1)
    skew = now - sent
    info["skew_s"] = round(skew, 3)
    info["within_tolerance"] = abs(skew) <= check.tolerance_s
    if not info["within_tolerance"]:
        direction = "old" if skew > 0 else "in the future"
        problems.append(f"timestamp is {abs(skew):.0f}s {direction}; tolerance is {check.tolerance_s}s"
                        + (" (is it in the spec's unit, " + check.unit + "?)" if abs(skew) > 1e6 else ""))
    return info


def _kv_shape(verify: VerifyHmac) -> list[str]:
    assert verify.kv is not None
    shape = [f"{verify.kv.timestamp}=<timestamp>"] if verify.kv.timestamp else []
    return [*shape, f"{verify.kv.signature}=<signature>"]


def _encoding_name(encoding: str) -> str:
    return {"hex": "lower-case hex", "HEX": "upper-case hex", "base64": "base64"}[encoding]


def _encode(mac: bytes, encoding: str) -> str:
    if encoding == "base64":
        return base64.b64encode(mac).decode("ascii")
    return mac.hex().upper() if encoding == "HEX" else mac.hex()


def _same_signature(expected: str, given: str, encoding: str) -> bool:
    if encoding == "base64":
        return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
    return hmac.compare_digest(expected.lower().encode(), given.lower().encode("utf-8", "replace"))
