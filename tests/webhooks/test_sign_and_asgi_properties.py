"""`engine sign` agrees with independent signers, and the ASGI app accepts exactly what they sign."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.store import open_store
from tests.examples import examples
from tests.webhooks.app_helpers import client, make_app
from tests.webhooks.conftest import FITBIT_SECRET, OURA_SECRET, ROOT, SPEC_ENV, WHOOP_SECRET, load
from tests.webhooks.signers import fitbit_headers, oura_headers, whoop_headers


def _sign(spec: str, body: bytes, *extra: str) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "engine.cli", "sign", spec, "--body", "-", *extra],
        input=body, capture_output=True, cwd=ROOT, env={**os.environ, **SPEC_ENV}, check=True,
    ).stdout.decode()
    return dict(line.split(": ", 1) for line in out.splitlines())


def test_engine_sign_matches_vendor_docs():
    body = b'{"user_id":10129,"id":"x","type":"sleep.updated","trace_id":"t"}'
    signed = _sign("vendors/whoop.yaml", body, "--timestamp", "1748241241000")
    assert signed == whoop_headers(WHOOP_SECRET, body, 1748241241000)
    assert _sign("vendors/oura.yaml", body, "--timestamp", "1748241241") == oura_headers(OURA_SECRET, body, 1748241241)
    assert _sign("tests/specs/fitbit_style.yaml", body) == fitbit_headers(FITBIT_SECRET, body)


def test_engine_sign_reports_missing_secret_without_traceback():
    result = subprocess.run([sys.executable, "-m", "engine.cli", "sign", "vendors/whoop.yaml", "--body", "-"],
                            input=b"{}", capture_output=True, cwd=ROOT, check=False,
                            env={k: v for k, v in os.environ.items() if not k.startswith("WHOOP_")})
    assert result.returncode == 1 and b"client_secret" in result.stderr and b"Traceback" not in result.stderr


def test_asgi_accepts_exactly_independently_signed_deliveries(tmp_path: Path):
    specs = {"whoop": load("whoop")}
    loop = asyncio.new_event_loop()
    store = loop.run_until_complete(open_store(None, tmp_path / "data", secret_keys=["k" * 32]))
    http = client(make_app(specs, store))
    counter = iter(range(10**9))

    @settings(max_examples=examples(300), deadline=None)
    @given(user=st.one_of(st.integers(0, 2**62), st.text(min_size=1, max_size=20)),
           skew_ms=st.integers(-299_000, 299_000), tamper=st.booleans())
    def check(user, skew_ms, tamper):
        body = json.dumps({"user_id": user, "id": next(counter), "type": "sleep.updated",
                           "trace_id": f"t{next(counter)}"}).encode()
        headers = whoop_headers(WHOOP_SECRET, body, int(time.time() * 1000) + skew_ms)
        sent = body.replace(b"sleep", b"sleeq") if tamper else body
        response = loop.run_until_complete(http.post("/v1/webhooks/whoop", content=sent, headers=headers))
        assert response.status_code == (401 if tamper else 200)

    try:
        check()
    finally:
        loop.run_until_complete(http.aclose())
        loop.run_until_complete(store.close())
        loop.close()
