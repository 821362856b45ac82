"""Benchmark 11: the PostgreSQL store beside SQLite, in the same run, on a throwaway server.

The server is the test suite's (tests/pg.sh: a fresh cluster on a loopback port, fsync off),
started here and stopped afterwards, or the one ENGINE_TEST_POSTGRES_URL names (then left
running). Every row gets a fresh database of its own, dropped afterwards.

* webhook ingest: signed WHOOP deliveries (as in bench/webhooks.py: each its own event id, the
  full verify / dedupe / inbox / job path) through `engine serve --no-worker` on SQLite, on
  PostgreSQL with one replica, and on PostgreSQL with two replicas sharing one database (the same
  total number of client connections, split between them). The three take turns, round after
  round (a discarded one-second warm-up each, then timed rounds). Beside each row the CPU it
  used while the load ran: engine processes and the PostgreSQL server's processes (the
  postmaster's tree, from /proc), as cores out of the machine's, and how busy the whole machine
  was (load client included). On 2 cores the two-replica row measures contention, not scale-out.
  Read back after each round: jobs made >= 2xx answers, inbox rows = jobs, jobs <= deliveries
  sent (the honesty check of bench/webhooks.py). No worker runs, so no samples are stored here;
  what a delivery stores is its inbox row and its job.
* durable pull + store: `SyncService.run_window` of WHOOP sleeps from the local page server (25
  a page, UUID ids, three samples each; archive and outbox on, the default configuration) into
  an empty SQLite store and an empty PostgreSQL database, taking turns, best of runs; the CPU
  beside it is the benchmark process's own (the page server apart) and the server's.
* sample reads: one store filled through its API only (mapped WHOOP and Oura days of
  bench/storage_fill.py, written to SQLite and PostgreSQL alike), then one page of 1,000
  heart-rate samples of one user from a random instant: `store.list_samples` on PostgreSQL beside
  the plain SQL query on PostgreSQL (psycopg, payload decoded), and the same on SQLite; each
  contender reads its own random pages, interleaved. The plain query is bench/storage.py's
  (`PLAIN_SQL`, `decode_payload`), so the samples table's names live in one place.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench import storage, webhooks
from bench.common import (
    ROOT,
    VENDORS,
    Row,
    fmt_rate,
    free_port,
    percentile,
    stop_process,
    unavailable,
    wait_for_port,
)
from bench.pull import page_server, whoop_spec
from bench.storage_fill import START, DayMapper, Shape, people, person_day
from engine.archive.keeping import compressed
from engine.engine import Engine, Settings
from engine.fetch.fetcher import Caller
from engine.store import Store, open_store
from engine.store.port import RawVersion, SampleRecord

NAME = "11 postgres"
URL_ENV = "ENGINE_TEST_POSTGRES_URL"
PG_SCRIPT = ROOT / "tests" / "pg.sh"
SECRET_KEY = webhooks.ENGINE_KEY  # PostgreSQL replicas must share one key: given, never generated
REPORTED = "reported (PostgreSQL beside SQLite)"
CONTENTION = "reported: on 2 cores two replicas measure contention, not scale-out"
PULL_USER = "bench-user"
# What each delivery leaves in the database (tables the webhook path writes).
DELIVERY_TABLES = ("jobs", "inbox_events")
PLAIN_SQL_PG = storage.PLAIN_SQL.replace("?", "%s")  # the same query in psycopg's placeholders
FLUSH_ROWS = 20_000


@dataclass(frozen=True)
class Plan:
    rounds: int  # timed webhook rounds per configuration
    seconds: int
    connections: int  # client connections in all, split between the replicas
    deliveries: int  # signed deliveries prepared per replica and round
    pull_records: int
    pull_runs: int  # per store
    shape: Shape  # the read store's people
    read_days: int
    pages: int
    page: int
    warmup: int


FULL = Plan(3, 4, 32, 80_000, 20_000, 2, Shape(users=50, hr_per_day=24), 120, 200, 1000, 5)
SMOKE = Plan(1, 1, 4, 2_000, 200, 1, Shape(users=3, hr_per_day=24), 8, 4, 50, 1)


# --------------------------------------------------------------------------- the server


@dataclass
class Server:
    url: str
    postmaster: int | None  # the server's root process when it runs on this machine


def _postmaster(url: str) -> int | None:
    """The server's postmaster pid: the parent of our own backend, if /proc shows it as postgres."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        try:  # while the backend still lives
            parent = _stat(int(row[0]) if row else 0)[0]
            comm = Path(f"/proc/{parent}/comm").read_text().strip()
        except (OSError, ValueError, IndexError):
            return None
    return parent if comm.startswith("postgres") else None


@contextmanager
def postgres_server() -> Iterator[Server]:
    """The server ENGINE_TEST_POSTGRES_URL names, else a throwaway one from tests/pg.sh (stopped
    on exit). Raises RuntimeError when neither is to be had."""
    given = os.environ.get(URL_ENV, "").strip()
    if given:
        yield Server(given, _postmaster(given))
        return
    script = (f"source {PG_SCRIPT} && pg_start >&2 && "
              'printf "%s\\n%s\\n%s\\n%s\\n" "$ENGINE_TEST_POSTGRES_URL" "$PG_TEST_DIR" "$PG_TEST_BIN" '
              '"$PG_TEST_RUN_AS"')
    started = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    lines = started.stdout.split("\n")
    if started.returncode != 0 or len(lines) < 4 or not lines[0]:
        reason = (started.stderr.strip().splitlines() or ["tests/pg.sh could not start PostgreSQL"])[-1]
        raise RuntimeError(reason)
    url, directory, binaries, run_as = lines[:4]
    try:
        yield Server(url, _postmaster(url))
    finally:
        subprocess.run(["bash", "-c", f"source {PG_SCRIPT} && pg_stop"], cwd=ROOT, timeout=120,
                       env={**os.environ, "PG_TEST_DIR": directory, "PG_TEST_BIN": binaries,
                            "PG_TEST_RUN_AS": run_as}, check=False)


_serial = iter(range(1, 10**9))


@contextmanager
def fresh_database(server: Server, label: str) -> Iterator[str]:
    """A new empty database on `server` (dropped on exit); its URL."""
    name = f"bench_{label}_{os.getpid()}_{next(_serial)}"
    with psycopg.connect(server.url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(server.url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --------------------------------------------------------------------------- CPU from /proc

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
CORES = os.cpu_count() or 1


def _stat(pid: int) -> tuple[int, float]:
    """(parent pid, CPU seconds of the process and its reaped children) from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), sum(int(f) for f in fields[11:15]) / _TICK


def _tree_cpu(roots: list[int]) -> float:
    """CPU seconds of `roots` and every live descendant, with what they reaped: a process that
    exits is counted in its parent's children's time, so a delta over a window stays whole."""
    table: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                table[int(entry)] = _stat(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    total, todo, seen = 0.0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        total += table[pid][1]
        todo.extend(children.get(pid, ()))
    return total


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


@dataclass
class CpuUse:
    """CPU used over measured windows, by group of processes, and the whole machine's share."""

    wall: float = 0.0
    by_group: dict[str, float] = field(default_factory=dict)
    busy: int = 0
    total: int = 0

    def text(self) -> str:
        if self.wall <= 0:
            return "CPU not measured"
        cores = {name: seconds / self.wall for name, seconds in self.by_group.items()}
        used = sum(cores.values())
        parts = ", ".join(f"{name} {value:.2f}" for name, value in cores.items())
        machine = f"; machine {100 * self.busy / self.total:.0f}% busy" if self.total else ""
        return f"CPU {used:.2f} of {CORES} cores ({100 * used / CORES:.0f}%: {parts}){machine}"


def _own_cpu(pid: int) -> float:
    """CPU seconds of one process alone (all its threads), not its children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


Meter = Callable[[], float]  # CPU seconds so far of one group of processes


def trees(pids: list[int]) -> Meter:
    return lambda: _tree_cpu(pids)


@contextmanager
def measured(use: CpuUse, groups: dict[str, Meter]) -> Iterator[None]:
    """Adds the CPU seconds each group used over the block to `use`."""
    try:
        before = {name: meter() for name, meter in groups.items()}
        busy0, total0 = _machine_jiffies()
    except OSError:  # no /proc: the row says CPU not measured
        yield
        return
    started = time.perf_counter()
    yield
    use.wall += time.perf_counter() - started
    busy1, total1 = _machine_jiffies()
    use.busy, use.total = use.busy + busy1 - busy0, use.total + total1 - total0
    for name, meter in groups.items():
        use.by_group[name] = use.by_group.get(name, 0.0) + meter() - before[name]


def _postgres_group(server: Server) -> dict[str, Meter]:
    """The server's processes (the postmaster's tree), when it runs on this machine."""
    return {"postgres": trees([server.postmaster])} if server.postmaster else {}


# --------------------------------------------------------------------------- webhook ingest


def _engine_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ENGINE_", "WHOOP_"))}
    env.update({"ENGINE_DATA_DIR": str(data_dir), "ENGINE_SECRET_KEY": SECRET_KEY,
                "ENGINE_VENDORS_DIR": str(VENDORS), "ENGINE_ONLY": "whoop",
                "WHOOP_CLIENT_ID": "bench-client", "WHOOP_CLIENT_SECRET": webhooks.SECRET,
                "PYTHONPATH": str(ROOT)})
    if database_url:
        env["ENGINE_DATABASE_URL"] = database_url
    return env


@contextmanager
def _replica(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "serve", "--no-worker", "--log-level", "warning",
             "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=out)
    try:
        try:
            wait_for_port(port, timeout_s=60, alive=lambda: proc.poll() is None)
        except RuntimeError as error:
            raise RuntimeError(f"{error}: {log.read_text(errors='replace')[-500:]}") from None
        yield proc
    finally:
        stop_process(proc)


async def _connect_user(database_url: str | None, data_dir: Path) -> None:
    store = await open_store(database_url, data_dir, secret_keys=[SECRET_KEY])
    try:
        await store.upsert_connection("whoop", "bench-user", vendor_user_id=str(webhooks.VENDOR_USER),
                                      scopes=["offline"], access_token="a", refresh_token="r",
                                      token_expires_at=time.time() + 86400)
    finally:
        await store.close()


@dataclass
class Ingest:
    """One webhook configuration: its replicas, where to count its rows, what it measured."""

    label: str
    database_url: str | None  # None: SQLite in data_dir
    data_dir: Path
    replicas: int
    ports: list[int] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    jobs: int = 0
    inbox: int = 0
    cpu: CpuUse = field(default_factory=CpuUse)

    def counts(self) -> tuple[int, int]:
        """(jobs, inbox events) in its database, read from outside the servers."""
        statements = [f"SELECT count(*) FROM {table}" for table in DELIVERY_TABLES]
        if self.database_url is None:
            with sqlite3.connect(f"file:{self.data_dir / 'engine.db'}?mode=ro", uri=True) as conn:
                jobs, inbox = (conn.execute(sql).fetchone()[0] for sql in statements)
        else:
            with psycopg.connect(self.database_url, autocommit=True) as pg:
                jobs, inbox = (pg.execute(sql).fetchone()[0] for sql in statements)  # type: ignore[index]
        return int(jobs), int(inbox)


def _load_all(load: Callable[..., dict[str, Any]], config: Ingest, files: list[Path], seconds: int,
              connections: int) -> dict[str, Any]:
    """The same load against each replica at once; the rates add up, latencies are the worst
    replica's."""
    each = max(1, connections // len(config.ports))
    with ThreadPoolExecutor(len(config.ports)) as pool:
        results = list(pool.map(lambda port, data: load(port, data, seconds, each), config.ports, files))
    return {"rate": sum(r["rate"] for r in results), "p50": max(r["p50"] for r in results),
            "p99": max(r["p99"] for r in results), "non2xx": sum(r["non2xx"] for r in results),
            "sent": sum(r["sent"] for r in results), "ok": sum(r["ok"] for r in results)}


def ingest(plan: Plan, server: Server, tmp: Path, smoke: bool) -> list[Row]:
    load, client = (webhooks._wrk, "wrk") if shutil.which("wrk") else (webhooks._python_load, "Python client")
    with ExitStack() as stack:
        configs = [Ingest("SQLite, 1 replica", None, tmp / "wh-sqlite", 1),
                   Ingest("PostgreSQL, 1 replica", stack.enter_context(fresh_database(server, "wh1")),
                          tmp / "wh-pg1", 1),
                   Ingest("PostgreSQL, 2 replicas", stack.enter_context(fresh_database(server, "wh2")),
                          tmp / "wh-pg2", 2)]
        for config in configs:
            asyncio.run(_connect_user(config.database_url, config.data_dir))
            for index in range(config.replicas):
                port = free_port()
                env = _engine_env(config.data_dir, config.database_url)
                proc = stack.enter_context(_replica(env, port, tmp / f"{config.data_dir.name}-{index}.log"))
                config.ports.append(port)
                config.pids.append(proc.pid)
        for index in range(plan.rounds + (0 if smoke else 1)):
            warm_up = not smoke and index == 0
            # Turns rotate, so no configuration always runs right after the same other one.
            for config in configs[index % 3:] + configs[:index % 3]:
                files = []
                for replica in range(config.replicas):
                    files.append(tmp / f"deliveries-{config.data_dir.name}-{replica}.tsv")
                    webhooks._deliveries(files[-1], plan.deliveries, f"{config.data_dir.name}r{replica}i{index}")
                before = config.counts()
                groups = {"engine": trees(config.pids), **(_postgres_group(server) if config.database_url else {})}
                window = CpuUse()
                with measured(window, groups):
                    result = _load_all(load, config, files, 1 if warm_up else plan.seconds, plan.connections)
                time.sleep(1)  # the round's last requests (in flight when it stopped) commit
                after = config.counts()
                if warm_up:
                    continue
                config.runs.append(result)
                config.jobs += after[0] - before[0]
                config.inbox += after[1] - before[1]
                config.cpu.wall += window.wall
                config.cpu.busy += window.busy
                config.cpu.total += window.total
                for name, seconds in window.by_group.items():
                    config.cpu.by_group[name] = config.cpu.by_group.get(name, 0.0) + seconds
    return _ingest_rows(plan, configs, client)


def _ingest_rows(plan: Plan, configs: list[Ingest], client: str) -> list[Row]:
    summary = []
    for config in configs:
        combined = webhooks._combined(config.runs)
        distinct = min(combined["sent"], plan.deliveries * config.replicas * len(config.runs))
        honest = combined["ok"] <= config.jobs == config.inbox <= distinct
        text = (f"{fmt_rate(combined['rate'])} req/s, p50 {combined['p50']:.1f} ms, p99 {combined['p99']:.1f} ms"
                + (f", {combined['non2xx']} non-2xx" if combined["non2xx"] else "")
                + f"; {config.jobs:,} jobs + inbox rows for {combined['ok']:,} 2xx deliveries"
                + ("" if honest else " MISMATCH") + f"; {config.cpu.text()}")
        summary.append((config, combined, text, honest and combined["non2xx"] == 0))
    sqlite_config, sqlite_run, sqlite_text, _ = summary[0]
    label = (f"{NAME}: webhook ingest, WHOOP signed, engine serve --no-worker, {client} -c{plan.connections} "
             f"in all, {plan.rounds} x {plan.seconds}s alternating")
    rows = [Row(f"{label}, {sqlite_config.label} (the baseline)", sqlite_text, "-", "1.00x", REPORTED,
                None if summary[0][3] else False)]
    for config, combined, text, ok in summary[1:]:
        rows.append(Row(f"{label}, {config.label}", text, f"SQLite 1 replica {fmt_rate(sqlite_run['rate'])} "
                        f"req/s, p99 {sqlite_run['p99']:.1f} ms",
                        f"{combined['rate'] / sqlite_run['rate']:.2f}x",
                        CONTENTION if config.replicas > 1 else REPORTED, None if ok else False))
    return rows


# --------------------------------------------------------------------------- durable pull


def _caller() -> Caller:
    async def token(*, force_refresh: bool = False) -> str:
        return "bench-token"

    return Caller(user_id=PULL_USER, vendor_user_id=None, token=token)


async def _pull(base_url: str, data_dir: Path, database_url: str | None) -> tuple[float, int, int]:
    """Seconds, records and samples of one pull window into an empty store."""
    spec = whoop_spec(base_url)
    env = {"ENGINE_DATA_DIR": str(data_dir), "ENGINE_VENDORS_DIR": str(VENDORS), "ENGINE_SECRET_KEY": SECRET_KEY}
    if database_url:
        env["ENGINE_DATABASE_URL"] = database_url
    async with Engine(Settings.from_env(env), specs={"whoop": spec}) as engine:
        assert engine.settings.raw_archive and engine.store.outbox_enabled, "not the default configuration"
        started = time.perf_counter()
        result = await engine.sync.run_window(spec, PULL_USER, "sleep", storage.WINDOW, caller=_caller(),
                                              advance_cursor=False)
        seconds = time.perf_counter() - started
    return seconds, result.records, result.written


def pull(plan: Plan, server: Server, tmp: Path) -> list[Row]:
    rates: dict[str, list[float]] = {"sqlite": [], "postgres": []}
    cpu: dict[str, CpuUse] = {"sqlite": CpuUse(), "postgres": CpuUse()}
    order = ["sqlite", "postgres", "postgres", "sqlite"] * plan.pull_runs
    with page_server(plan.pull_records, 25, ("--uuid-ids", "--every-sample")) as base_url:
        for index, kind in enumerate(order[:2 * plan.pull_runs]):
            data_dir = tmp / f"pull-{index}"
            with ExitStack() as stack:
                url = stack.enter_context(fresh_database(server, "pull")) if kind == "postgres" else None
                groups = {"engine": lambda: _own_cpu(os.getpid()), **(_postgres_group(server) if url else {})}
                with measured(cpu[kind], groups):
                    seconds, records, written = asyncio.run(_pull(base_url, data_dir, url))
            if records != plan.pull_records or written != storage.SAMPLES_PER_RECORD * records:
                raise AssertionError(f"the {kind} pull stored {records} records / {written} samples, expected "
                                     f"{plan.pull_records} / {storage.SAMPLES_PER_RECORD * plan.pull_records}")
            rates[kind].append(records / seconds)

    def runs(kind: str) -> str:
        return ", ".join(fmt_rate(rate) for rate in rates[kind])

    pg, lite = max(rates["postgres"]), max(rates["sqlite"])
    return [Row(f"{NAME}: durable pull of {plan.pull_records:,} WHOOP sleeps (25/page, UUID ids, 3 samples each, "
                "archive + outbox on) into an empty store",
                f"PostgreSQL {fmt_rate(pg)} rec/s (best of runs {runs('postgres')}); {cpu['postgres'].text()}",
                f"SQLite {fmt_rate(lite)} rec/s (best of runs {runs('sqlite')}); {cpu['sqlite'].text()}",
                f"{pg / lite:.2f}x", REPORTED, None)]


# --------------------------------------------------------------------------- sample reads


async def _write(store: Store, rows: list[SampleRecord], versions: list[RawVersion], at: float) -> None:
    await store.archive_raw(compressed(versions), now=at)
    for first in range(0, len(rows), FLUSH_ROWS):
        await store.upsert_samples(rows[first:first + FLUSH_ROWS], now=at)


@dataclass
class Reads:
    by_contender: dict[str, list[float]] = field(default_factory=dict)
    samples: int = 0
    fill_s: float = 0.0


async def reads(plan: Plan, database_url: str, data_dir: Path) -> Reads:
    """Fill both stores with the same days (through the store API, outbox off), then read."""
    out = Reads()
    lite = await open_store(None, data_dir, secret_keys=[SECRET_KEY])
    pg = await open_store(database_url, data_dir, secret_keys=[SECRET_KEY])
    try:
        started = time.perf_counter()
        mapper, persons, rng = DayMapper(), people(plan.shape), random.Random(plan.shape.seed)
        for store in (lite, pg):
            store.configure_outbox(enabled=False)  # a read store: no change feed to keep
        for day in range(plan.read_days):
            rows: list[SampleRecord] = []
            versions: list[RawVersion] = []
            for person in persons:
                mapper.map(person.user_id, person_day(person, day, rng, plan.shape), rows, versions)
            at = (START + timedelta(days=day + 1, hours=6)).timestamp()
            await asyncio.gather(_write(lite, rows, versions, at), _write(pg, rows, versions, at))
            out.samples += len(rows)
        out.fill_s = time.perf_counter() - started
        await _read_pages(plan, lite, pg, database_url, data_dir, out)
    finally:
        await lite.close()
        await pg.close()
    return out


def _starts(plan: Plan, count: int, seed: int) -> list[tuple[str, int]]:
    """Random (user, day) starts with at least a full page of heart rate after them."""
    days_needed = -(-plan.page // plan.shape.hr_per_day) + 2
    if plan.read_days <= days_needed:
        raise AssertionError(f"{plan.read_days} days are too few for a page of {plan.page}")
    users = [p.user_id for p in people(plan.shape)]
    rng = random.Random(seed)
    return [(rng.choice(users), rng.randrange(0, plan.read_days - days_needed)) for _ in range(count)]


async def _read_pages(plan: Plan, lite: Store, pg: Store, database_url: str, data_dir: Path, out: Reads) -> None:
    names = ("pg store", "pg plain", "sqlite store", "sqlite plain")
    total = plan.warmup + plan.pages
    starts = {name: _starts(plan, total, seed) for seed, name in enumerate(names)}
    out.by_contender = {name: [] for name in names}
    plain_pg = psycopg.connect(database_url, autocommit=True)
    plain_lite = sqlite3.connect(data_dir / "engine.db")

    async def store_page(store: Store, user: str, since: Any) -> int:
        page = await store.list_samples(user, sample_types=["heart_rate"], since=since,
                                        include_deleted=False, limit=plan.page)
        return len(page.samples)

    def pg_page(user: str, since_us: int) -> int:
        rows = plain_pg.execute(PLAIN_SQL_PG, (user, "heart_rate", since_us, plan.page)).fetchall()
        return len([storage.decode_payload(row[0]) for row in rows])

    def lite_page(user: str, since_us: int) -> int:
        rows = plain_lite.execute(storage.PLAIN_SQL, (user, "heart_rate", since_us, plan.page)).fetchall()
        return len([storage.decode_payload(row[0]) for row in rows])

    # As `engine serve` does once started (the app's lifespan): what is loaded stays out of the
    # cyclic collector's full passes, which would otherwise land on the reads' p99.
    gc.collect()
    gc.freeze()
    try:
        for index in range(total):
            for name in names:
                user, day = starts[name][index]
                since = START + timedelta(days=day)
                since_us = int(since.timestamp() * 1_000_000)
                began = time.perf_counter()
                if name == "pg store":
                    count = await store_page(pg, user, since)
                elif name == "sqlite store":
                    count = await store_page(lite, user, since)
                elif name == "pg plain":
                    count = pg_page(user, since_us)
                else:
                    count = lite_page(user, since_us)
                elapsed = (time.perf_counter() - began) * 1000
                if count != plan.page:
                    raise AssertionError(f"{name} read a page of {count} samples, expected {plan.page}")
                if index >= plan.warmup:
                    out.by_contender[name].append(elapsed)
    finally:
        gc.unfreeze()
        plain_pg.close()
        plain_lite.close()


def _latency(values: list[float]) -> str:
    return f"p50 {statistics.median(values):,.1f} ms, p99 {percentile(values, 0.99):,.1f} ms"


def read_rows(plan: Plan, result: Reads) -> list[Row]:
    label = (f"{NAME}: read one page of {plan.page:,} heart_rate samples of one user, store of "
             f"{result.samples:,} samples (filled in {result.fill_s:.0f}s, both stores), {plan.pages} random pages, "
             "store.list_samples")
    rows = []
    for store, kind in (("PostgreSQL", "pg"), ("SQLite", "sqlite")):
        mine, plain = result.by_contender[f"{kind} store"], result.by_contender[f"{kind} plain"]
        rows.append(Row(f"{label} on {store}", _latency(mine), f"plain SQL on {store} + json.loads {_latency(plain)}",
                        f"p99 {percentile(mine, 0.99) / percentile(plain, 0.99):.1f}x plain", REPORTED, None))
    return rows


# --------------------------------------------------------------------------- run


def _part(name: str, started: float, smoke: bool) -> None:
    if not smoke:
        print(f"# postgres: {name} done after {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)


def run(smoke: bool = False) -> list[Row]:
    plan = SMOKE if smoke else FULL
    started = time.monotonic()
    with ExitStack() as stack:
        try:
            server = stack.enter_context(postgres_server())
        except (RuntimeError, OSError, subprocess.SubprocessError, psycopg.Error) as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            return [unavailable(NAME, f"no PostgreSQL server ({first})"[:160], REPORTED)]
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-postgres-")))
        rows = ingest(plan, server, tmp, smoke)
        _part("webhook ingest", started, smoke)
        rows += pull(plan, server, tmp)
        _part("durable pull", started, smoke)
        with fresh_database(server, "reads") as url:
            result = asyncio.run(reads(plan, url, tmp / "reads"))
        rows += read_rows(plan, result)
        _part("sample reads", started, smoke)
    return rows

if __name__ == "__main__":
    for row in run(smoke="--smoke" in sys.argv):
        print(row.markdown(), end="")
