"""Trust levels are derived from the verify block, and a delivery that is not authenticated turns
its acting routes into confirm steps whose jobs carry nothing from the body."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.spec.loader import load_spec
from engine.spec.model import VerifyHeaderEquals, VerifyHmac, VerifyNone
from engine.spec.template import Template
from engine.spec.trust import derived_trust
from engine.webhooks.events import extract_events
from engine.webhooks.routing import route_event

ROOT = Path(__file__).resolve().parents[2]


def _hmac(key: str) -> VerifyHmac:
    return VerifyHmac(algorithm="sha256", key=Template(key), message=Template("{body}"),
                      signature_header="X-Sig", encoding="hex")


@pytest.mark.parametrize(("verify", "level"), [
    (_hmac("{client_secret}"), "authenticated"),
    (_hmac("{secret:signing_key}"), "authenticated"),
    (_hmac("{env:ACME_WEBHOOK_KEY}"), "authenticated"),
    (_hmac("{client_id}"), "weak"),
    (_hmac("literal-key"), "weak"),
    (VerifyHeaderEquals(header="Authorization", value=Template("{env:HOOK_SECRET}")), "authenticated"),
    (VerifyHeaderEquals(header="client-id", value=Template("{client_id}")), "weak"),
    (VerifyNone(), "unauthenticated"),
])
def test_trust_is_derived_from_where_the_key_comes_from(verify, level):
    assert derived_trust(verify) == level


def test_shipped_specs_trust_levels():
    levels = {}
    for path in sorted((ROOT / "vendors").glob("*.yaml")):
        spec = load_spec(path, env={})
        if spec.webhooks is not None:
            levels[spec.id] = spec.webhooks.trust
    assert levels == {
        "coros": "authenticated", "fitbit": "authenticated", "garmin": "weak", "google_health": "authenticated",
        "oura": "authenticated", "polar": "authenticated", "strava": "unauthenticated", "suunto": "authenticated",
        "wahoo": "authenticated", "whoop": "authenticated", "withings": "unauthenticated",
    }


def _jobs(vendor: str, document):
    spec = load_spec(ROOT / "vendors" / f"{vendor}.yaml", env={})
    assert spec.webhooks is not None
    events = extract_events(spec.id, spec.webhooks.events, document)
    return [job.payload.to_payload() for event in events
            for job in route_event(spec, event, received_at=1000.0).jobs]


def test_weak_push_becomes_a_reread_carrying_nothing_from_the_body():
    (job,) = _jobs("garmin", {"dailies": [{"summaryId": "s1", "userId": "u", "steps": 99999}]})
    assert (job["action"], job["resource"], job["by"], job["confirm"]) == ("fetch", "daily", "changes", "fetch")
    assert job["data"] is None and job["trust"] == "weak" and job["lookback_s"] == 86400
    assert "99999" not in repr(job)


def test_unsigned_delete_and_disconnect_carry_their_confirm_step():
    delete = _jobs("strava", {"object_type": "activity", "object_id": 7, "aspect_type": "delete",
                              "owner_id": 1, "subscription_id": 1, "event_time": 5, "updates": {}})
    revoke = _jobs("strava", {"object_type": "athlete", "object_id": 1, "aspect_type": "update",
                              "owner_id": 1, "subscription_id": 1, "event_time": 6,
                              "updates": {"authorized": "false"}})
    assert [(j["action"], j["confirm"]) for j in delete + revoke] == [("delete", "reread"),
                                                                     ("disconnect", "token")]


def test_signed_routes_act_as_written():
    (job,) = _jobs("whoop", {"user_id": 1, "id": "abc", "type": "sleep.deleted", "trace_id": "t"})
    assert (job["action"], job["trust"], job["confirm"]) == ("delete", "authenticated", None)
