"""`engine connections`, `engine limits` and `engine jobs` against a store that `engine serve`
would open, normal output and failures."""

from __future__ import annotations

import json
import time

from engine.fetch.ratelimit import RateGovernor
from engine.store.port import JobSpec

ACCESS, REFRESH = "access-token-value-1", "refresh-token-value-1"


def connect_alice(workspace, *, refresh: str = REFRESH) -> None:
    workspace.acme.tokens[ACCESS] = "acme-42"
    workspace.acme.refresh_tokens[refresh] = "acme-42"

    async def body(engine):
        await engine.store.upsert_connection(
            "acme", "alice", vendor_user_id="acme-42", scopes=["offline", "sleep"],
            access_token=ACCESS, refresh_token=refresh, token_expires_at=time.time() + 3600)
        await engine.store.record_connection_activity("acme", "alice", last_webhook_at=time.time() - 120)

    workspace.with_engine(body)


# --------------------------------------------------------------------------- connections


def test_connections_lists_status_expiry_scopes_and_activity_without_tokens(workspace):
    connect_alice(workspace)
    code, out, _ = workspace.run("connections")
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split()[:4] == ["VENDOR", "USER", "VENDOR", "USER"]
    assert row.split()[:4] == ["acme", "alice", "acme-42", "active"]
    assert "(in 60m)" in row or "(in 59m)" in row
    assert "offline sleep" in row and "(2m ago)" in row
    assert ACCESS not in out and REFRESH not in out

    code, out, _ = workspace.run("connections", "alice", "--format", "json")
    described = json.loads(out)["connections"][0]
    assert described["status"] == "active" and described["has_refresh_token"] is True
    assert described["last_pull_at"] is None and described["scopes"] == ["offline", "sleep"]
    assert ACCESS not in out and REFRESH not in out


def test_connections_refresh_gets_new_tokens_from_the_vendor(workspace):
    connect_alice(workspace)
    code, _out, err = workspace.run("connections", "alice", "--refresh")
    assert code == 0, err
    assert "acme/alice: tokens refreshed" in err
    assert REFRESH not in workspace.acme.refresh_tokens  # used up at the vendor
    version = workspace.with_engine(lambda e: e.store.get_connection("acme", "alice"))
    assert version.token_version == 2 and version.access_token != ACCESS


def test_connections_refresh_with_a_dead_refresh_token_reports_reauth(workspace):
    connect_alice(workspace)
    workspace.acme.refresh_tokens.clear()  # the vendor forgot it
    code, out, err = workspace.run("connections", "alice", "--refresh")
    assert code == 1
    assert "acme/alice: reauth_required" in err
    assert "reauth_required" in out.splitlines()[1]
    assert "refresh rejected" in out


def test_connections_revoke_calls_the_vendor_and_purges(workspace):
    connect_alice(workspace)
    code, out, err = workspace.run("connections", "alice", "--revoke")
    assert code == 0, err
    assert "tokens purged, revoked at the vendor" in err
    assert workspace.acme.revoked == [ACCESS]
    assert out.splitlines()[1].split()[3] == "revoked"


def test_connections_failures(workspace):
    code, _, err = workspace.run("connections", "--refresh")
    assert code == 2 and "need a USER" in err
    code, _, err = workspace.run("connections", "nobody")
    assert code == 1 and "no connections for user 'nobody'" in err
    code, out, _ = workspace.run("connections")
    assert code == 0 and out.strip() == "no connections"


def test_an_unreachable_store_is_a_clear_error(workspace, monkeypatch):
    monkeypatch.setenv("ENGINE_DATABASE_URL", "postgresql://engine@127.0.0.1:1/engine?connect_timeout=1")
    for command in (["connections"], ["jobs"], ["limits", "acme"]):
        code, _out, err = workspace.run(*command)
        assert code == 1, command
        assert err.startswith(f"engine {command[0]}: error:") and "Traceback" not in err


# --------------------------------------------------------------------------- limits


def test_limits_show_use_remaining_and_backoff(workspace):
    async def spend(engine):
        governor = RateGovernor(engine.spec("acme"), engine.store)
        for _ in range(5):
            await governor.acquire("alice")
        await engine.store.penalize_budget(governor.penalty_keys("alice")[0], time.time() + 90)

    code, out, _ = workspace.run("limits", "acme")
    assert code == 0
    assert out.splitlines()[1].split() == ["SCOPE", "BUDGET", "IN", "USE", "REMAINING", "BURST", "NOW", "BLOCKED"]
    app = out.splitlines()[2].split()
    assert app[:4] == ["app", "300/1m", "0", "300"] and int(app[4]) > 0 and app[5] == "-"
    assert "backoff: none" in out

    workspace.with_engine(spend)
    code, out, _ = workspace.run("limits", "acme", "--user", "alice")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:4]}
    assert rows["app"][1:4] == ["300/1m", "5", "295"]
    assert rows["user"][1:4] == ["1000/1d", "5", "995"]
    assert "(vendor asked to wait)" in out

    code, out, _ = workspace.run("limits", "acme", "--user", "alice", "--format", "json")
    status = json.loads(out)
    assert 80 < status["backoff_s"] <= 90
    assert [b["scope"] for b in status["budgets"]] == ["app", "user"]


def test_limits_of_an_unknown_vendor(workspace):
    code, _, err = workspace.run("limits", "nosuch")
    assert code == 1 and "vendor_not_found" in err


# --------------------------------------------------------------------------- jobs


def test_jobs_count_list_filter_and_retry(workspace):
    async def make_jobs(engine):
        store = engine.store
        await store.enqueue(JobSpec(kind="sync_window", payload={"vendor": "acme"}, vendor="acme", user_id="alice"))
        await store.enqueue(JobSpec(kind="webhook_event", payload={"vendor": "acme"}, vendor="acme",
                                    user_id="alice", max_attempts=1))
        job = await store.claim("test-worker", lease_s=30, kinds=["webhook_event"])
        assert await store.fail(job.id, "test-worker", "acme answered HTTP 500: boom") == "dead"
        return job.id

    dead_id = workspace.with_engine(make_jobs)
    code, out, _ = workspace.run("jobs")
    assert code == 0
    assert out.splitlines()[0].startswith("queued 1")
    assert "dead 1" in out.splitlines()[0]
    assert "acme answered HTTP 500: boom" in out

    code, out, _ = workspace.run("jobs", "--state", "dead", "--format", "json")
    listed = json.loads(out)
    assert [j["job_id"] for j in listed["jobs"]] == [dead_id]
    assert listed["jobs"][0]["last_error"] == "acme answered HTTP 500: boom"

    code, out, _ = workspace.run("jobs", "--retry", dead_id)
    assert code == 0 and f"job {dead_id} requeued" in out
    code, out, _ = workspace.run("jobs", "--state", "dead")
    assert dead_id not in out


def test_jobs_retry_failures(workspace):
    code, _, err = workspace.run("jobs", "--retry", "no-such-job")
    assert code == 1 and "no job 'no-such-job'" in err

    async def queued(engine):
        return (await engine.store.enqueue(JobSpec(kind="sync_window", payload={}))).job_id

    job_id = workspace.with_engine(queued)
    code, _, err = workspace.run("jobs", "--retry", job_id)
    assert code == 1 and "is queued; only failed or dead jobs can be retried" in err
    code, _, err = workspace.run("jobs", "--state", "lost")
    assert code == 2
