"""Structured logs across connect → signed webhook → fetch: every line is one JSON object, job
lines carry vendor, user, event id, job id and trace id, requests carry a trace id, and no token,
code, key or secret appears anywhere (debug level, every library's logger)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from engine.logs import JsonFormatter, TextFormatter, configure_logging, log_context, redact_text
from tests.auth.harness import API_KEY, AUTH, SECRET_KEY, consent, query_of, start
from tests.e2e.helpers import drain, engine_app, send_whoop_webhook
from tests.webhooks.signers import whoop_headers


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    handler = configure_logging("json", logging.DEBUG, stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@pytest.mark.anyio
async def test_full_flow_logs_are_json_with_context_and_no_secret(env, sim, clock, captured):
    secrets: set[str] = {API_KEY, SECRET_KEY}
    async with engine_app({**env, "ENGINE_INITIAL_SYNC": "0"}, clock) as (engine, client):
        callback = await consent(await start(client, "whoop", "user-1"))
        secrets.add(query_of(callback)["code"])
        connected = await client.get(callback, headers={"X-Request-Id": "req-connect-1"})
        assert connected.status_code == 200, connected.text
        assert connected.headers["x-request-id"] == "req-connect-1"

        vendor_user = sim.state.default_user("whoop")
        sleep = next(s for s in sim.state.records("whoop", "sleep", vendor_user.key) if not s["nap"])
        event = {"user_id": vendor_user.vendor_id, "id": sleep["id"], "type": "sleep.updated",
                 "trace_id": "whoop-event-1"}
        client_secret = sim.state.client("whoop").client_secret
        body = json.dumps(event).encode()
        secrets |= set(whoop_headers(client_secret, body, int(clock() * 1000)).values()) - {
            str(int(clock() * 1000))}
        delivered = await send_whoop_webhook(client, client_secret, event, int(clock() * 1000))
        assert delivered.status_code < 300
        assert delivered.headers.get("x-request-id")  # generated when the caller sends none
        assert await drain(engine) == 1
        listed = await client.get("/v1/users/user-1/samples", headers=AUTH)
        assert listed.json()["samples"]

    secrets |= set(sim.state.access_tokens) | set(sim.state.refresh_tokens)
    secrets |= {c.client_secret for c in sim.state.clients.values()}
    text = captured.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) > 5
    for secret in secrets:
        assert secret and secret not in text, "a secret reached the logs"

    stored = [line for line in lines if line["msg"] == "event stored"]
    assert len(stored) == 1
    (job_line,) = stored
    assert job_line["vendor"] == "whoop" and job_line["user"] == "user-1"
    assert job_line["event_id"] == "whoop-event-1"
    assert job_line["job_id"] and job_line["trace_id"]
    # the job's other lines (fetch, store, HTTP client) share its trace id
    same_job = [line for line in lines if line.get("job_id") == job_line["job_id"]]
    assert {line["trace_id"] for line in same_job} == {job_line["trace_id"]}
    assert any(line.get("trace_id") == "req-connect-1" for line in lines)


def test_text_and_json_formatters_redact_secrets_in_messages_and_fields():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1,
        '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET",
                                     "/v1/oauth/whoop/callback?code=AUTHCODE123&state=STATEVALUE9", "1.1", 200),
        None)
    record.access_token = "ACCESS-TOKEN-XYZ"
    record.headers = {"Authorization": "Bearer BEARER-VALUE", "Accept": "application/json"}
    record.token_version = 4
    with log_context(trace_id="trace-7", job_id="job-9"):
        as_json = JsonFormatter().format(record)
        as_text = TextFormatter().format(record)
    for output in (as_json, as_text):
        for secret in ("AUTHCODE123", "STATEVALUE9", "ACCESS-TOKEN-XYZ", "BEARER-VALUE"):
            assert secret not in output
        assert "trace-7" in output and "job-9" in output
    parsed = json.loads(as_json)
    assert parsed["token_version"] == 4 and parsed["headers"]["Accept"] == "application/json"
    assert redact_text("refresh_token=abc&x=1") == "refresh_token=[redacted]&x=1"
    assert redact_text('{"client_secret": "s3"}') == '{"client_secret": "[redacted]"}'
