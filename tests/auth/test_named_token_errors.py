"""`auth.token_response.errors`: a vendor answer that means one clear thing becomes a named connect
error, here Strava's 403 for an application at its limit of connected athletes (shipped spec)."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from engine.auth.token_endpoint import read_token_response
from engine.errors import OAuthError
from engine.spec.errors import SpecError
from engine.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[2]
STRAVA = load_spec(ROOT / "vendors/strava.yaml", env={"STRAVA_CLIENT_ID": "1", "STRAVA_CLIENT_SECRET": "s"})
# The answer as Strava sends it (Strava's error shape: message + errors[]).
LIMIT = {"message": "Limit of connected athletes exceeded",
         "errors": [{"resource": "Athlete", "field": "", "code": "limit exceeded"}]}


def test_the_athlete_limit_is_a_named_connect_error():
    with pytest.raises(OAuthError) as raised:
        read_token_response(STRAVA, httpx2.Response(403, json=LIMIT), now=0.0)
    assert (raised.value.code, raised.value.status) == ("vendor_athlete_limit", 409)
    assert "limit of connected athletes" in raised.value.message


def test_other_refusals_stay_generic():
    for status, body in ((403, {"message": "Forbidden"}), (400, LIMIT)):
        with pytest.raises(OAuthError) as raised:
            read_token_response(STRAVA, httpx2.Response(status, json=body), now=0.0)
        assert raised.value.code == "token_request_failed"


def test_a_rule_needs_a_status_or_a_condition(tmp_path):
    rule = "      - status: 403\n        when: \"contains(to_string(message), 'Limit of connected athletes')\"\n"
    text = (ROOT / "vendors/strava.yaml").read_text().replace(rule, "      -\n")
    path = tmp_path / "strava.yaml"
    path.write_text(text)
    with pytest.raises(SpecError):
        load_spec(path, env={})
