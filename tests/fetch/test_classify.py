from __future__ import annotations

import json

from engine.fetch.classify import classify
from engine.spec.expr import Expr
from engine.spec.model import Limits, Retry

LIMITS = Limits(retry=Retry(statuses=(429, 500, 502, 503, 504)))


def body(value) -> bytes:
    return json.dumps(value).encode()


def test_success_parses_json():
    outcome = classify(200, body({"records": [1]}), LIMITS)
    assert outcome.kind == "ok" and outcome.body == {"records": [1]}


def test_empty_success_body_is_none():
    assert classify(204, b"", LIMITS).body is None


def test_statuses():
    assert classify(401, b"", LIMITS).kind == "unauthorized"
    assert classify(429, b"", LIMITS).kind == "rate_limited"
    assert classify(503, b"busy", LIMITS).kind == "retry"
    assert classify(501, b"", LIMITS).kind == "rejected"
    assert classify(202, b"", LIMITS, ok_statuses=(202,)).kind == "ok"


def test_rejection_carries_the_vendor_message():
    outcome = classify(400, body({"message": "start must be before end"}), LIMITS)
    assert outcome.kind == "rejected"
    assert outcome.message == "start must be before end"
    assert classify(404, b"<html>not   found</html>", LIMITS).message == "<html>not found</html>"


def test_long_messages_are_shortened():
    assert len(classify(400, b"x" * 5000, LIMITS).message) <= 300


def test_malformed_json_on_success():
    outcome = classify(200, b'{"records": [', LIMITS)
    assert outcome.kind == "malformed" and "not valid JSON" in outcome.message


def test_errors_answered_with_http_200():
    limits = Limits(
        retry=LIMITS.retry,
        error_when=Expr("status != `0`"),
        error_message=Expr("error"),
        rate_limited_when=Expr("status == `601`"),
    )
    assert classify(200, body({"status": 0, "body": {}}), limits).kind == "ok"
    rate = classify(200, body({"status": 601, "error": "Too many requests"}), limits)
    assert rate.kind == "rate_limited" and rate.message == "Too many requests"
    rejected = classify(200, body({"status": 2555, "error": "Unknown user"}), limits)
    assert rejected.kind == "rejected" and rejected.message == "Unknown user"
