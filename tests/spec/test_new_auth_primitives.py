"""The auth primitives the newer vendors need, checked where the compiler and the engine read
them: the user id from the access token's JWT claims, the refresh token as a bearer header, a
refresh URL of its own, and secret API headers that must come from the environment."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from engine.auth.token_claims import access_token_claims
from engine.spec.errors import SpecError
from engine.spec.loader import load_spec
from engine.spec.secrets import spec_secrets

ROOT = Path(__file__).resolve().parents[2]
SUUNTO_ENV = {"SUUNTO_CLIENT_ID": "id", "SUUNTO_CLIENT_SECRET": "secret",
              "SUUNTO_SUBSCRIPTION_KEY": "apim-key-1234567890"}


def _segment(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt(claims: object) -> str:
    return f"{_segment({'alg': 'RS256', 'kid': 'k1'})}.{_segment(claims)}.c2lnbmF0dXJl"


def test_claims_are_read_from_the_payload_segment():
    assert access_token_claims(jwt({"sub": "ab12", "user": "runner-7", "exp": 1})) == {
        "sub": "ab12", "user": "runner-7", "exp": 1}


@pytest.mark.parametrize("token", [
    "opaque-token", "a.b", "a..c", f"x.{_segment(b'not json')}.y", jwt(["a", "list"]), jwt("text"),
    "x." + "%%%" + ".y", "x." + "A" * 20000 + ".y",
])
def test_a_token_that_is_not_a_jwt_has_no_claims(token):
    assert access_token_claims(token) is None


def suunto_with(tmp_path: Path, old: str, new: str, env=None):
    text = (ROOT / "vendors/suunto.yaml").read_text()
    assert old in text
    path = tmp_path / "suunto.yaml"
    path.write_text(text.replace(old, new))
    return load_spec(path, env=SUUNTO_ENV if env is None else env)


def codes(error: SpecError) -> set[str]:
    return {issue.code for issue in error.issues}


def test_the_shipped_suunto_spec_reads_the_user_claim():
    spec = load_spec(ROOT / "vendors/suunto.yaml", env=SUUNTO_ENV)
    assert spec.auth.identity is not None and spec.auth.identity.claims == "access_token"
    assert spec.auth.identity.user_id.search({"sub": "ab12", "user": "runner-7"}) == "runner-7"


def test_claims_and_a_request_are_exclusive(tmp_path):
    with pytest.raises(SpecError) as both:
        suunto_with(tmp_path, "    claims: access_token\n", "    claims: access_token\n    request: {path: /me}\n")
    assert "identity.claims_and_request" in codes(both.value)


def test_a_secret_api_header_never_comes_from_the_spec(tmp_path):
    with pytest.raises(SpecError) as literal:
        suunto_with(tmp_path, '"${SUUNTO_SUBSCRIPTION_KEY}"', "hunter2-hunter2")
    assert "secret.literal" in codes(literal.value)
    spec = load_spec(ROOT / "vendors/suunto.yaml", env=SUUNTO_ENV)
    assert {name: t.text for name, t in spec.api.headers} == {
        "Ocp-Apim-Subscription-Key": "apim-key-1234567890"}
    _params, secrets = spec_secrets(spec, SUUNTO_ENV)
    assert "apim-key-1234567890" in secrets  # redacted from every log line


def test_a_bearer_refresh_cannot_be_combined_with_basic_client_auth(tmp_path):
    zepp = (ROOT / "vendors/zepp.yaml").read_text()
    assert "refresh_token_in: authorization_header" in zepp
    path = tmp_path / "zepp.yaml"
    path.write_text(zepp.replace("client_auth: client_secret_post", "client_auth: client_secret_basic"))
    with pytest.raises(SpecError) as conflict:
        load_spec(path, env={"ZEPP_CLIENT_ID": "i", "ZEPP_CLIENT_SECRET": "s"})
    assert "auth.refresh_header_conflict" in codes(conflict.value)
