"""`verify: {type: body_equals}`: a shared secret carried in a body field, compared in constant
time; its trust follows from where the value comes from; the compiler refuses literals and
malformed field paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.spec.errors import SpecError
from engine.spec.loader import load_spec
from engine.spec.model import VerifyBodyEquals
from engine.spec.template import Template
from engine.spec.trust import derived_trust
from engine.webhooks.keys import SecretSource
from engine.webhooks.verify import VerificationFailed, verify_delivery, without_body_field

ROOT = Path(__file__).resolve().parents[2]
ENV = {"WAHOO_CLIENT_ID": "id", "WAHOO_CLIENT_SECRET": "secret"}
VERIFY = VerifyBodyEquals(path=("auth", "token"), value=Template("{env:HOOK_TOKEN}"))
SECRETS = SecretSource(env={"HOOK_TOKEN": "new-token,old-token"})


def wahoo_with(tmp_path: Path, verify_block: str):
    text = (ROOT / "vendors/wahoo.yaml").read_text()
    start, end = text.index("  verify:\n"), text.index("  events:\n")
    path = tmp_path / "wahoo.yaml"
    path.write_text(text[:start] + verify_block + text[end:])
    return load_spec(path, env=ENV)


def codes(error: SpecError) -> set[str]:
    return {issue.code for issue in error.issues}


@pytest.mark.parametrize("given", ["new-token", "old-token"])
def test_either_value_of_a_rotated_secret_passes(given):
    body = json.dumps({"auth": {"token": given}, "x": 1}).encode()
    verify_delivery(VERIFY, body, {}, SECRETS, now=0.0)


@pytest.mark.parametrize(("body", "status"), [
    (b'{"auth": {"token": "new-tokeN"}}', 401),
    (b'{"auth": {"token": "new-token-and-more"}}', 401),
    (b'{"auth": {"token": 123}}', 401),
    (b'{"auth": {"token": ""}}', 401),
    (b'{"auth": {}}', 401),
    (b'{"auth": "new-token"}', 401),
    (b'["new-token"]', 401),
    (b'{"auth": {"token": "new-token"', 400),
    (b'\xff\xfe', 400),
])
def test_anything_else_is_refused_without_naming_the_secret(body, status):
    with pytest.raises(VerificationFailed) as failed:
        verify_delivery(VERIFY, body, {}, SECRETS, now=0.0)
    assert failed.value.status == status
    assert "new-token" not in failed.value.reason and "old-token" not in failed.value.reason


def test_the_secret_field_is_dropped_from_what_is_kept():
    document = {"auth": {"token": "new-token", "scheme": "v1"}, "user": {"id": 7}}
    assert without_body_field(VERIFY, document) == {"auth": {"scheme": "v1"}, "user": {"id": 7}}
    assert document["auth"]["token"] == "new-token"  # the parsed delivery itself is not changed
    assert without_body_field(VERIFY, {"user": 1}) == {"user": 1}


def test_trust_is_derived_from_the_value_source(tmp_path):
    shipped = wahoo_with(tmp_path, "  verify: {type: body_equals, field: webhook_token, "
                                   'value: "{env:WAHOO_WEBHOOK_TOKEN}"}\n')
    assert shipped.webhooks is not None and derived_trust(shipped.webhooks.verify) == "authenticated"
    with pytest.raises(SpecError) as weak:  # a client id is public: the ingest route needs a confirm step
        wahoo_with(tmp_path, '  verify: {type: body_equals, field: webhook_token, value: "{client_id}"}\n')
    assert "route.needs_confirm" in codes(weak.value)


def test_literals_and_malformed_fields_are_refused(tmp_path):
    with pytest.raises(SpecError) as literal:
        wahoo_with(tmp_path, "  verify: {type: body_equals, field: webhook_token, value: hunter2}\n")
    assert "secret.literal" in codes(literal.value)
    with pytest.raises(SpecError) as bad_field:
        wahoo_with(tmp_path, '  verify: {type: body_equals, field: "a..b", value: "{env:T}"}\n')
    assert bad_field.value.issues and all(i.json_path[:3] == ("webhooks", "verify", "field")
                                          for i in bad_field.value.issues)
