"""Subscription handshakes as data: answer a vendor's verification request the way it expects.

GET query echo (`?challenge=…` → `{"challenge": …}`), GET verify code (204 / 404), HEAD (2xx), POST
ping (2xx) and POST verification (2xx with valid auth, 4xx without). Every token or code is
compared in constant time against each configured candidate.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.spec.model import (
    HandshakeHead,
    HandshakePing,
    HandshakeQueryEcho,
    HandshakeVerification,
    HandshakeVerifyCode,
    Webhooks,
)
from engine.webhooks.keys import SecretNotConfigured, SecretSource, candidates
from engine.webhooks.verify import VerificationFailed

_MAX_CHALLENGE_CHARS = 1024


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    json: Any = None  # None: empty body
    headers: Mapping[str, str] | None = None
    raw: bytes | None = None  # a spec-declared JSON body, sent exactly as written (instead of `json`)


def get_handshake(webhooks: Webhooks, query: Mapping[str, str], secrets: SecretSource) -> Answer | None:
    """Answer a GET; None when no GET handshake applies to this request."""
    for handshake in webhooks.handshakes:
        if isinstance(handshake, HandshakeQueryEcho) and handshake.challenge_param in query:
            if handshake.mode_param and not query.get(handshake.mode_param):
                continue
            challenge = query[handshake.challenge_param]
            if len(challenge) > _MAX_CHALLENGE_CHARS:
                return Answer(400, {"error": "challenge is too long"})
            if not _matches(query.get(handshake.token_param), handshake.token, secrets):
                return Answer(handshake.fail_status, {"error": "verification token does not match"})
            return Answer(200, {handshake.response_key: challenge})
        if isinstance(handshake, HandshakeVerifyCode) and handshake.param in query:
            if _matches(query.get(handshake.param), handshake.code, secrets):
                return Answer(handshake.ok_status)
            return Answer(handshake.fail_status)
    return None


def head_handshake(webhooks: Webhooks) -> Answer | None:
    for handshake in webhooks.handshakes:
        if isinstance(handshake, HandshakeHead):
            return Answer(handshake.status)
    return None


def post_handshake(
    webhooks: Webhooks, document: Any, check_auth: Callable[[], None]
) -> Answer | None:
    """Answer a POST that is a ping or a verification request; None for an ordinary delivery.
    `check_auth` raises `VerificationFailed` when the delivery is not authentic."""
    for handshake in webhooks.handshakes:
        if isinstance(handshake, HandshakePing) and _truthy(handshake.when.search(document)):
            if handshake.verify:
                check_auth()
            return Answer(handshake.status)
        if isinstance(handshake, HandshakeVerification) and _truthy(handshake.when.search(document)):
            try:
                check_auth()
            except VerificationFailed as failed:
                if failed.status == 409:  # the engine lacks the secret: say so, do not pretend
                    raise
                return Answer(handshake.fail_status, {"error": failed.reason})
            return Answer(handshake.ok_status)
    return None


def has_post_handshake(webhooks: Webhooks) -> bool:
    return any(isinstance(h, (HandshakePing, HandshakeVerification)) for h in webhooks.handshakes)


def has_get_handshake(webhooks: Webhooks) -> bool:
    return any(isinstance(h, (HandshakeQueryEcho, HandshakeVerifyCode)) for h in webhooks.handshakes)


def _matches(given: str | None, template, secrets: SecretSource) -> bool:
    if given is None:
        return False
    try:
        expected = candidates(template, secrets)
    except SecretNotConfigured:
        return False
    given_bytes = given.encode("utf-8", "surrogateescape")
    matched = False
    for value in expected:
        matched |= hmac.compare_digest(given_bytes, value.encode("utf-8"))
    return matched


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", [], {})
