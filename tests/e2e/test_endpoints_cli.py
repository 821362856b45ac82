"""`engine endpoints`: the same endpoint operations as /v1/endpoints from the command line, on the
engine's real store, delivering to a real receiver that verifies signatures with the
`standardwebhooks` package. A secret is printed once; bad input is one line and exit 1, bad
usage exit 2."""

from __future__ import annotations

import asyncio
import json

import pytest

from engine.cli import main
from engine.engine import Engine, Settings
from tests.auth.harness import Clock
from tests.e2e.receiver import running_receiver


@pytest.fixture
def cli_env(env, monkeypatch):
    for name, value in {**env, "ENGINE_OUTBOUND_ALLOW_PRIVATE": "1"}.items():
        monkeypatch.setenv(name, value)
    return env


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["endpoints", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def run_json(capsys, *argv: str) -> dict:
    status, out, err = run(capsys, *argv, "--format", "json")
    assert status == 0, err
    return json.loads(out)


async def deliver(env: dict[str, str], events: int) -> list[str]:
    """Write `events` events of one user (so delivered in order) and run the delivery loop until
    nothing is due; their ids."""
    async with Engine(Settings.from_env({**env, "ENGINE_OUTBOUND_ALLOW_PRIVATE": "1"}), clock=Clock()) as engine:
        ids = [await engine.store.add_outbox_event("connection.created", {"user_id": "u1", "vendor": f"v{i}"},
                                                   user_id="u1") for i in range(events)]
        await engine.outbound.deliverer.drain()
        return ids


def test_endpoints_from_the_command_line(cli_env, capsys):
    with running_receiver() as receiver:
        added = run_json(capsys, "add", receiver.url, "--event-type", "connection.created",
                         "--description", "the app")
        assert added["secret"].startswith("whsec_") and added["event_types"] == ["connection.created"]
        receiver.secret = added["secret"]
        endpoint = added["id"]
        listed = run_json(capsys, "list")["endpoints"]
        assert [e["id"] for e in listed] == [endpoint] and "secret" not in listed[0]
        status, out, _ = run(capsys, "list")
        assert endpoint in out and "whsec_" not in out

        event_ids = asyncio.run(deliver(cli_env, 2))
        assert [r.webhook_id for r in receiver.delivered()] == event_ids
        assert all(r.verified for r in receiver.received)
        shown = run_json(capsys, "show", endpoint)
        assert shown["deliveries"]["delivered"] == 2 and "secret" not in shown
        deliveries = run_json(capsys, "deliveries", endpoint, "--state", "delivered")["deliveries"]
        assert [d["event_id"] for d in deliveries] == event_ids and {d["attempts"] for d in deliveries} == {1}

        # one message again, then a time range (both events)
        assert run_json(capsys, "replay", endpoint, "--event", event_ids[1])["queued"] == 1
        asyncio.run(deliver(cli_env, 0))
        assert run_json(capsys, "replay", endpoint, "--since", "2000-01-01")["queued"] == 2
        asyncio.run(deliver(cli_env, 0))
        assert [r.webhook_id for r in receiver.delivered()] == [*event_ids, event_ids[1], *event_ids]

        # paused: nothing goes out; resumed: it does
        assert run_json(capsys, "pause", endpoint)["status"] == "paused"
        more = asyncio.run(deliver(cli_env, 1))
        assert len(receiver.delivered()) == 5
        assert run_json(capsys, "resume", endpoint)["status"] == "active"
        asyncio.run(deliver(cli_env, 0))
        assert receiver.delivered()[-1].webhook_id == more[0]

        # a rotated secret: both sign during the overlap, the receiver's old one still verifies
        rotated = run_json(capsys, "rotate-secret", endpoint, "--overlap-s", "3600")
        assert rotated["secret"] != added["secret"] and rotated["secrets"] == 2
        asyncio.run(deliver(cli_env, 1))
        assert receiver.received[-1].verified
        receiver.secret = rotated["secret"]
        asyncio.run(deliver(cli_env, 1))
        assert receiver.received[-1].verified

        updated = run_json(capsys, "update", endpoint, "--no-remap", "--description", "renamed")
        assert updated["include_remap"] is False and updated["description"] == "renamed"
        status, out, _ = run(capsys, "delete", endpoint)
        assert status == 0 and endpoint in out
        assert run_json(capsys, "list")["endpoints"] == []


@pytest.mark.parametrize(("argv", "said"), [
    (["add", "ftp://example.com/hook"], "invalid_endpoint: url"),
    (["add", "https://example.com/hook", "--event-type", "samples.changd"], "unknown event type"),
    (["show", "ep_missing"], "endpoint_not_found"),
    (["delete", "ep_missing"], "endpoint_not_found"),
    (["rotate-secret", "ep_missing"], "endpoint_not_found"),
    (["replay", "ep_missing", "--event", "evt_x"], "endpoint_not_found"),
])
def test_bad_input_is_one_line_and_exit_1(cli_env, capsys, argv, said):
    status, out, err = run(capsys, *argv)
    assert status == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and said in err and "Traceback" not in err


@pytest.mark.parametrize(("argv", "said"), [
    (["replay", "ep_x"], "--since"),
    (["replay", "ep_x", "--event", "evt_x", "--since", "2026-01-01"], "not allowed"),
    (["replay", "ep_x", "--since", "yesterday"], "is not a date"),
    (["update", "ep_x"], "nothing to change"),
    (["deliveries", "ep_x", "--state", "lost"], "invalid choice"),
])
def test_bad_usage_is_exit_2(cli_env, capsys, argv, said):
    status, _, err = run(capsys, *argv)
    assert status == 2 and said in err and "Traceback" not in err
