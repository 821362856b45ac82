"""Engine processes on loopback for the scale-out tests: `engine serve --no-worker` replicas and
`engine worker` processes sharing one PostgreSQL database, the vendor simulator as WHOOP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from engine.store import Store, open_store
from sandbox.server import RunningSim, free_port
from tests.webhooks.signers import whoop_headers

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "scale-test-secret-key-0123456789abcdefghij"
API_KEY = "scale-test-api-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
VENDOR = "whoop"
LIFTED_BUDGETS = "    - {per: app, requests: 1000000, window: 1m}\n"


def whoop_spec_dir(directory: Path, budgets: str | None = LIFTED_BUDGETS) -> Path:
    """A copy of the shipped WHOOP spec with no initial sync, so only the test's own events cause
    vendor calls, and its `limits.budgets` list replaced by `budgets` (YAML list items; None
    keeps the shipped budgets)."""
    text = (ROOT / "vendors" / "whoop.yaml").read_text()
    if budgets is not None:
        head, rest = text.split("  budgets:\n", 1)
        _, tail = rest.split("  retry:", 1)
        text = f"{head}  budgets:\n{budgets}  retry:{tail}"
    text = text.replace("initial_days: 30", "initial_days: 0")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "whoop.yaml").write_text(text)
    return directory


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def kill9(self) -> None:
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Cluster:
    """Replicas and workers started by the test; `stop()` ends every one of them."""

    database_url: str
    sim: RunningSim
    workdir: Path
    budgets: str | None = LIFTED_BUDGETS
    processes: list[Process] = field(default_factory=list)
    replica_urls: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        vendors = whoop_spec_dir(self.workdir / "vendors", self.budgets)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("ENGINE_", "WHOOP_"))
        }
        env.update(self.sim.env())
        env.update(
            {
                "ENGINE_DATABASE_URL": self.database_url,
                "ENGINE_SECRET_KEY": SECRET_KEY,
                "ENGINE_API_KEY": API_KEY,
                "ENGINE_VENDORS_DIR": str(vendors),
                "ENGINE_ONLY": VENDOR,
                "ENGINE_DATA_DIR": str(self.workdir / "data"),
                "PYTHONPATH": str(ROOT),
            }
        )
        return env

    def _spawn(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> Process:
        log = self.workdir / f"{name}.log"
        handle = log.open("wb")
        popen = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", *args],
            cwd=ROOT,
            env=dict(env or self.env),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        handle.close()
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def start_replica(self) -> str:
        port = free_port()
        name = f"replica-{len(self.replica_urls) + 1}"
        env = {**self.env, "ENGINE_PUBLIC_URL": f"http://127.0.0.1:{port}"}
        args = ["serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)]
        process = self._spawn(name, [*args, "--log-level", "warning"], env)
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/healthz", process)
        self.replica_urls.append(url)
        return url

    def start_worker(self, *, lease_s: float = 5, concurrency: int = 8) -> Process:
        name = f"worker-{sum(p.name.startswith('worker') for p in self.processes) + 1}"
        args = ["worker", "--lease", str(lease_s), "--concurrency", str(concurrency)]
        return self._spawn(name, [*args, "--poll", "0.2"])

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM to every process at once; whatever still runs after `grace_s` is killed."""
        running = [p for p in self.processes if p.popen.poll() is None]
        for process in running:
            process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in running:
            try:
                process.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(10)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in self.processes)


@contextlib.contextmanager
def cluster(database_url: str, sim: RunningSim, workdir: Path, **options: Any) -> Iterator[Cluster]:
    running = Cluster(database_url, sim, workdir, **options)
    try:
        yield running
    except BaseException:
        print(running.logs(), file=sys.stderr)
        raise
    finally:
        running.stop()


def _wait_http(url: str, process: Process, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited early:\n{process.tail()}")
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer {url}:\n{process.tail()}")


# --------------------------------------------------------------------------- store and users


async def open_test_store(database_url: str, workdir: Path) -> Store:
    return await open_store(database_url, workdir, secret_keys=[SECRET_KEY])


async def connect_users(
    store: Store, sim: RunningSim, count: int, *, expires_in_s: float = 3600
) -> dict[str, str]:
    """Link `count` simulator users to app users `user-0`… with tokens the simulator issued
    (without the consent screen, which other tests cover). Returns app user → vendor user id."""
    state = sim.state
    linked = {}
    for index in range(count):
        vendor_user = state.default_user(VENDOR) if index == 0 else state.add_user(VENDOR)
        scopes = list(state.profile(VENDOR).default_scopes)
        access, refresh = state.issue_tokens(VENDOR, vendor_user.key, scopes)
        app_user = f"user-{index}"
        await store.upsert_connection(
            VENDOR,
            app_user,
            vendor_user_id=vendor_user.key,
            scopes=scopes,
            access_token=access.token,
            refresh_token=refresh.token if refresh else None,
            token_expires_at=time.time() + expires_in_s,
        )
        linked[app_user] = vendor_user.key
    return linked


async def wait_for_jobs(store: Store, *, timeout_s: float) -> dict[str, int]:
    """Until nothing is queued or running; returns the final counts per state."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = await store.count_jobs()
        if counts["queued"] == 0 and counts["running"] == 0:
            return counts
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs still pending after {timeout_s:g}s: {counts}")
        await asyncio.sleep(0.25)


async def all_jobs(store: Store, kind: str | None = None) -> list[Any]:
    jobs, after = [], None
    while True:
        page = await store.list_jobs(kind=kind, limit=5000, after_id=after)
        jobs.extend(page)
        if len(page) < 5000:
            return jobs
        after = page[-1].id


# --------------------------------------------------------------------------- webhooks


def whoop_event(vendor_user: str, event_type: str, object_id: str, trace_id: str) -> dict:
    user: int | str = int(vendor_user) if vendor_user.isdigit() else vendor_user
    return {"user_id": user, "id": object_id, "type": event_type, "trace_id": trace_id}


async def deliver(
    client: httpx2.AsyncClient, replica: str, secret: str, event: dict
) -> httpx2.Response:
    body = json.dumps(event).encode()
    headers = {
        "Content-Type": "application/json",
        **whoop_headers(secret, body, int(time.time() * 1000)),
    }
    return await client.post(f"{replica}/v1/webhooks/{VENDOR}", content=body, headers=headers)
