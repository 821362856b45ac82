"""`engine verify`: the explanation of an accepted and of each kind of refused delivery."""

from __future__ import annotations

import json
from pathlib import Path

from tests.docs.acme_vendor import WEBHOOK_SECRET, sign

BODY = b'{"event_id":"e1","user_id":"acme-42","type":"sleep.created","object_id":"sleep-1"}'
T = 1767225600


def write_body(root: Path) -> str:
    (root / "event.json").write_bytes(BODY)
    return "event.json"


def test_an_authentic_delivery_is_explained_and_accepted(workspace):
    header = sign(BODY, timestamp=T)["Acme-Signature"]
    code, out, _ = workspace.run("verify", "vendors/acme.yaml", "--body", write_body(workspace.root),
                                 "--header", f"Acme-Signature: {header}", "--now", str(T + 42))
    assert code == 0
    assert "environment variable ACME_WEBHOOK_SECRET" in out
    assert f"signed     {len(BODY) + 11} bytes: b'{T}.{BODY.decode()}'" in out
    assert "42s old, within the tolerance of ±300s" in out
    assert f"ACME_WEBHOOK_SECRET value 1 of 1: {header.split('v1=')[1]}  MATCHES" in out
    assert out.rstrip().endswith("verdict    OK: the engine accepts this delivery")
    assert WEBHOOK_SECRET not in out


def test_a_wrong_secret_shows_expected_and_received_signatures(workspace):
    header = sign(BODY, secret="an-old-secret", timestamp=T)["Acme-Signature"]
    code, out, _ = workspace.run("verify", "vendors/acme.yaml", "--body", write_body(workspace.root),
                                 "--header", f"Acme-Signature: {header}", "--now", str(T))
    assert code == 1
    received = header.split("v1=")[1]
    assert f"received   {received}" in out
    expected = sign(BODY, timestamp=T)["Acme-Signature"].split("v1=")[1]
    assert f"value 1 of 1: {expected}  differs" in out
    assert "REFUSED (401): signature does not match" in out
    assert "an-old-secret" not in out and WEBHOOK_SECRET not in out


def test_a_rotation_lists_every_key_and_which_one_matched(workspace, monkeypatch):
    monkeypatch.setenv("ACME_WEBHOOK_SECRET", f"new-secret,{WEBHOOK_SECRET}")
    header = sign(BODY, timestamp=T)["Acme-Signature"]
    code, out, _ = workspace.run("verify", "vendors/acme.yaml", "--body", write_body(workspace.root),
                                 "--header", f"Acme-Signature: {header}", "--now", str(T))
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("expected")]
    assert lines[0].endswith("differs") and "value 1 of 2" in lines[0]
    assert lines[1].endswith("MATCHES") and "value 2 of 2" in lines[1]


def test_clock_skew_is_reported_against_the_tolerance(workspace):
    header = sign(BODY, timestamp=T)["Acme-Signature"]
    code, out, _ = workspace.run("verify", "vendors/acme.yaml", "--body", write_body(workspace.root),
                                 "--header", f"Acme-Signature: {header}", "--now", str(T - 900))
    assert code == 1
    assert "900s in the future, OUTSIDE the tolerance of ±300s" in out
    assert "problem    timestamp is 900s in the future; tolerance is 300s" in out
    assert "REFUSED (401): timestamp is in the future" in out


def test_a_missing_header_and_a_missing_secret_are_named(workspace, monkeypatch):
    body = write_body(workspace.root)
    code, out, _ = workspace.run("verify", "vendors/acme.yaml", "--body", body, "--now", str(T))
    assert code == 1
    assert "problem    the delivery has no Acme-Signature header" in out
    monkeypatch.delenv("ACME_WEBHOOK_SECRET")
    header = sign(BODY, timestamp=T)["Acme-Signature"]
    code, out, _ = workspace.run("verify", "vendors/acme.yaml", "--body", body,
                                 "--header", f"Acme-Signature: {header}", "--now", str(T))
    assert code == 1
    assert "no value for {env:ACME_WEBHOOK_SECRET}" in out
    assert "REFUSED (409)" in out


def test_json_output_carries_the_same_facts(workspace):
    header = sign(BODY, timestamp=T)["Acme-Signature"]
    code, out, _ = workspace.run("verify", "vendors/acme.yaml", "--body", write_body(workspace.root),
                                 "--header", f"Acme-Signature: {header}", "--now", str(T + 5),
                                 "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True and report["status"] == 200
    assert report["signed_message"] == f"{T}.{BODY.decode()}"
    assert report["timestamp"]["skew_s"] == 5 and report["timestamp"]["within_tolerance"] is True
    assert report["keys"][0]["matches"] is True


def test_a_shipped_spec_with_a_client_secret_names_its_variable(workspace, monkeypatch):
    monkeypatch.setenv("WHOOP_CLIENT_ID", "id")
    monkeypatch.setenv("WHOOP_CLIENT_SECRET", "whoop-secret")
    whoop = Path(__file__).resolve().parents[2] / "vendors" / "whoop.yaml"
    code, out, _ = workspace.run("verify", str(whoop), "--body", write_body(workspace.root),
                                 "--header", "X-WHOOP-Signature: bm90IGl0", "--header",
                                 f"X-WHOOP-Signature-Timestamp: {T * 1000}", "--now", str(T))
    assert code == 1
    assert "auth.client_secret = environment variable WHOOP_CLIENT_SECRET" in out
    assert f"b'{T * 1000}{BODY.decode()}'" in out
    assert "whoop-secret" not in out


def test_usage_errors_exit_2_with_a_message(workspace):
    body = write_body(workspace.root)
    code, _, err = workspace.run("verify", "vendors/acme.yaml", "--body", body, "--header", "no colon")
    assert code == 2 and "is not 'Name: value'" in err
    code, _, err = workspace.run("verify", "vendors/missing.yaml", "--body", body)
    assert code == 2 and "missing.yaml" in err
    code, _, err = workspace.run("verify", "vendors/acme.yaml", "--body", "nope.json")
    assert code == 2 and "cannot read nope.json" in err
    (workspace.root / "bad.yaml").write_text("spec_version: 1\nid: x\n")
    code, _, err = workspace.run("verify", "bad.yaml", "--body", body)
    assert code == 2 and "does not load" in err and "Traceback" not in err
