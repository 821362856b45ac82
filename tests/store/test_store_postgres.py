"""What only the PostgreSQL adapter has to prove: configuration, reconnects, row-lock races."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import psycopg
import pytest

from engine.store import (
    BudgetRequest,
    ConnectionConflict,
    JobSpec,
    SecretKeyError,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
    open_store,
)
from engine.store.postgres_db import parse_postgres_url

from .conftest import store_url
from .helpers import TEST_SECRET

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_secret_key_is_required_and_never_generated(tmp_path: Path) -> None:
    url = f"postgresql://engine@127.0.0.1:{_free_port()}/engine"
    with pytest.raises(SecretKeyError, match="ENGINE_SECRET_KEY is required"):
        await open_store(url, tmp_path, env={})
    with pytest.raises(SecretKeyError, match="at least 32"):
        await open_store(url, tmp_path, env={"ENGINE_SECRET_KEY": "short"})
    assert list(tmp_path.iterdir()) == []  # no key file appeared


async def test_unreachable_server_is_unavailable_with_a_clear_message(tmp_path: Path) -> None:
    port = _free_port()
    url = f"postgresql://engine:hunter2-password@127.0.0.1:{port}/engine?connect_timeout=2"
    with pytest.raises(StoreUnavailable) as raised:
        await open_store(url, tmp_path, secret_keys=[TEST_SECRET])
    message = str(raised.value)
    assert f"127.0.0.1:{port}/engine" in message and "hunter2" not in message


def test_url_options_are_checked_and_the_rest_goes_to_libpq() -> None:
    options = parse_postgres_url(
        "postgresql://u:p@db.internal:6432/app?sslmode=require&pool_size=4&pool_timeout=2.5"
    )
    assert (options.pool_size, options.pool_timeout_s, options.display) == (
        4,
        2.5,
        "db.internal:6432/app",
    )
    assert "sslmode=require" in options.conninfo and "pool_size" not in options.conninfo
    for bad in ("pool_size=0", "pool_timeout=soon", "connect_timeout=-1"):
        with pytest.raises(StoreConfigError):
            parse_postgres_url(f"postgresql://u@h/db?{bad}")
    with pytest.raises(StoreConfigError, match="port"):
        parse_postgres_url("postgresql://u@h:notaport/db")


@pytest.fixture
async def pg_store(tmp_path: Path):
    store = await open_store(store_url("postgres", tmp_path), tmp_path, secret_keys=[TEST_SECRET])
    try:
        yield store
    finally:
        await store.close()


async def test_server_side_disconnects_are_replaced_transparently(pg_store, tmp_path) -> None:
    await pg_store.set_cursor("acme", "u1", "sleep", "c1")
    await asyncio.sleep(1.1)  # pooled connections idle this long are probed before use
    with psycopg.connect(store_url("postgres", tmp_path), autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND datname = current_database() AND state = 'idle' "
            "AND application_name = current_setting('application_name')"
        ).fetchone()[0]
    assert killed >= 1
    assert await pg_store.get_cursor("acme", "u1", "sleep") == "c1"
    await pg_store.ping()


async def test_every_job_is_claimed_once_by_concurrent_workers(pg_store, tmp_path) -> None:
    await pg_store.enqueue_many([JobSpec("event", {"n": n}) for n in range(150)])
    other = await open_store(store_url("postgres", tmp_path), tmp_path, secret_keys=[TEST_SECRET])
    claimed: list[str] = []

    async def worker(store, name: str) -> None:
        while (job := await store.claim(name, lease_s=60)) is not None or (
            await store.count_jobs()
        )["queued"]:
            if job is not None:
                claimed.append(job.id)

    try:
        await asyncio.gather(
            *(worker(pg_store, f"a{n}") for n in range(8)),
            *(worker(other, f"b{n}") for n in range(8)),
        )
    finally:
        await other.close()
    assert len(claimed) == 150 and len(set(claimed)) == 150


async def test_racing_links_of_one_vendor_account_leave_exactly_one_owner(pg_store) -> None:
    async def link(user: str):
        return await pg_store.upsert_connection(
            "acme",
            user,
            vendor_user_id="vu-shared",
            scopes=[],
            access_token="a",
            refresh_token="r",
            token_expires_at=None,
        )

    outcomes = await asyncio.gather(*(link(f"user-{n}") for n in range(10)), return_exceptions=True)
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(o, ConnectionConflict) for o in outcomes if o not in winners)
    owner = await pg_store.get_connection_by_vendor_user("acme", "vu-shared")
    assert owner is not None and owner.user_id == winners[0].user_id


async def test_a_refused_budget_reserves_nothing(pg_store) -> None:
    request = BudgetRequest("app:acme:minute", rate=1, period_s=60)
    first = await pg_store.acquire_budget([request], now=1000.0)
    refused = await pg_store.acquire_budget(
        [request, BudgetRequest("app:acme:day", rate=10, period_s=86400)],
        max_wait_s=1,
        now=1001.0,
    )
    assert first.granted and not refused.granted and refused.wait_s == pytest.approx(59)
    assert await pg_store.get_budget("app:acme:day") is None
    assert (await pg_store.get_budget("app:acme:minute")).tat == pytest.approx(1060)


async def test_text_the_database_cannot_hold_is_a_clear_store_error(pg_store) -> None:
    with pytest.raises(StoreError, match="NUL"):
        await pg_store.set_cursor("acme", "u\x00", "sleep", "c")
    await pg_store.ping()  # the connection is still usable
