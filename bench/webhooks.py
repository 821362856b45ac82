"""Benchmark 2: webhook ingest through uvicorn — `engine serve --no-worker` against a bare endpoint.

Engine: signed WHOOP deliveries (base64 HMAC-SHA256 over timestamp + body), each with a unique
event id, for a connected user, so every request runs the full path: verify, dedupe, durable
inbox write and job enqueue on SQLite. Baseline: `bench.bare_app`, a Starlette POST route
returning 200, under the same uvicorn settings. Load: wrk on loopback, one thread, fixed
connections, bounded duration (or, without wrk, the Python client in `bench.http_load`). Both
servers run side by side and take turns (a discarded one-second warm-up each, then three rounds of
four seconds each); the rate is the mean over the rounds, the latencies the median round's.

Honesty check: after the engine's run the database is read back. Every delivery answered 2xx must
have its inbox row and its job (jobs made during the run >= 2xx answers), and no job may exist
that no delivery asked for (jobs <= deliveries sent; the difference is the requests still in
flight when the client stopped). The row reports both numbers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import ROOT, VENDORS, Row, fmt_rate, free_port, stop_process, wait_for_port
from bench.http_load import post_request, run_load

SECRET = "bench-whoop-client-secret"
ENGINE_KEY = "bench-engine-secret-key-0123456789abcdef0123"
VENDOR_USER = 10129
PATH = "/v1/webhooks/whoop"
LUA = Path(__file__).with_name("signed_requests.lua")
GOAL = ">= 0.5x bare, p99 <= 20 ms"


def _deliveries(path: Path, count: int, tag: str) -> None:
    """`count` signed deliveries, each a distinct event (`tag` keeps runs apart) for the connected user."""
    stamp = str(int(time.time() * 1000))
    with path.open("w") as out:
        for index in range(count):
            body = json.dumps({"user_id": VENDOR_USER, "id": f"sleep-{index}", "type": "sleep.updated",
                               "trace_id": f"bench-{tag}-{stamp}-{index:08d}"}, separators=(",", ":"))
            mac = hmac.new(SECRET.encode(), stamp.encode() + body.encode(), hashlib.sha256).digest()
            out.write(f"{stamp}\t{base64.b64encode(mac).decode()}\t{body}\n")


async def _connect_user(data_dir: str) -> None:
    from engine.store import open_store

    store = await open_store(None, Path(data_dir), secret_keys=[ENGINE_KEY])
    try:
        await store.upsert_connection("whoop", "bench-user", vendor_user_id=str(VENDOR_USER),
                                      scopes=["offline"], access_token="a", refresh_token="r",
                                      token_expires_at=time.time() + 86400)
    finally:
        await store.close()


@contextmanager
def _server(args: list[str], env: dict[str, str], port: int) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, "-m", *args, "--port", str(port)], cwd=ROOT,
                            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, alive=lambda: proc.poll() is None)
        yield
    finally:
        stop_process(proc)


def _ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wrk(port: int, data: Path, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(LUA),
         f"http://127.0.0.1:{port}{PATH}", "--", str(data), PATH],
        capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    counted = re.search(r"deliveries sent: (\d+), answered 2xx: (\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rate": rate, "p50": p50, "p99": p99, "non2xx": int(bad.group(1)) if bad else 0,
            "sent": int(counted.group(1)) if counted else 0, "ok": int(counted.group(2)) if counted else 0,
            "socket_errors": errors.group(0) if errors else ""}


def _python_load(port: int, data: Path, seconds: int, connections: int) -> dict:
    requests = []
    for line in data.read_text().splitlines():
        stamp, signature, body = line.split("\t", 2)
        requests.append(post_request(PATH, {
            "Content-Type": "application/json", "X-WHOOP-Signature-Timestamp": stamp,
            "X-WHOOP-Signature": signature}, body.encode()))
    result = run_load(port, requests, seconds, connections)
    return {"rate": result.rate, "p50": result.p50_ms, "p99": result.p99_ms, "non2xx": result.non2xx,
            "sent": result.sent, "ok": result.ok,
            "socket_errors": f"{result.errors} connection errors" if result.errors else ""}


def _counts(database: Path) -> tuple[int, int]:
    """(jobs, inbox events) in the engine's database, read from outside the server."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        jobs = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        inbox = conn.execute("SELECT count(*) FROM inbox_events").fetchone()[0]
    return jobs, inbox


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _combined(runs: list[dict]) -> dict:
    """Rounds of one server: the mean rate (rounds are equally long), the median round's latencies."""
    return {"rate": sum(r["rate"] for r in runs) / len(runs), "p50": _median([r["p50"] for r in runs]),
            "p99": _median([r["p99"] for r in runs]), "non2xx": sum(r["non2xx"] for r in runs),
            "sent": sum(r["sent"] for r in runs), "ok": sum(r["ok"] for r in runs)}


def run(smoke: bool = False) -> list[Row]:
    load, client = (_wrk, "wrk") if shutil.which("wrk") else (_python_load, "Python client")
    rounds, seconds, connections = (1, 1, 4) if smoke else (3, 4, 32)
    count = 20_000 if smoke else 120_000  # more than the client can send in a round: no repeats
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "engine"
        asyncio.run(_connect_user(str(data_dir)))
        engine_env = {"ENGINE_DATA_DIR": str(data_dir), "ENGINE_SECRET_KEY": ENGINE_KEY,
                      "ENGINE_VENDORS_DIR": str(VENDORS), "ENGINE_ONLY": "whoop",
                      "WHOOP_CLIENT_ID": "bench-client", "WHOOP_CLIENT_SECRET": SECRET}
        engine_port, bare_port = free_port(), free_port()
        # Both servers run side by side and take turns, so a load swing on a shared machine hits
        # both rather than whichever ran during it. Every engine round sends fresh event ids.
        engine_runs, bare_runs, jobs, inbox = [], [], 0, 0
        with _server(["engine.cli", "serve", "--no-worker", "--log-level", "warning"], engine_env, engine_port), \
                _server(["bench.bare_app"], {}, bare_port):
            for index in range(rounds + (0 if smoke else 1)):
                warm_up = not smoke and index == 0  # discarded, and its jobs counted out below
                data = Path(tmp) / f"deliveries-{index}.tsv"
                _deliveries(data, count, f"round{index}")
                jobs_before, inbox_before = _counts(data_dir / "engine.db")
                engine = load(engine_port, data, 1 if warm_up else seconds, connections)
                time.sleep(1)  # the round's last requests (in flight when it stopped) commit
                jobs_after, inbox_after = _counts(data_dir / "engine.db")
                bare = load(bare_port, data, 1 if warm_up else seconds, connections)
                if warm_up:
                    continue
                engine_runs.append(engine)
                bare_runs.append(bare)
                jobs, inbox = jobs + jobs_after - jobs_before, inbox + inbox_after - inbox_before
    engine, bare = _combined(engine_runs), _combined(bare_runs)
    distinct_sent = min(engine["sent"], count * len(engine_runs))
    honest = engine["ok"] <= jobs == inbox <= distinct_sent
    ratio = engine["rate"] / bare["rate"]
    notes = f", {engine['non2xx']} non-2xx" if engine["non2xx"] else ""
    check = (f"; {jobs:,} jobs for {engine['ok']:,} distinct 2xx deliveries "
             f"({engine['sent'] - engine['ok']} in flight at stops)"
             + ("" if honest else " MISMATCH"))
    return [Row(
        f"2 webhook ingest: WHOOP signed, uvicorn, {client} -c{connections}, {len(engine_runs)} x {seconds}s "
        "alternating",
        f"{fmt_rate(engine['rate'])} req/s, p50 {engine['p50']:.1f} ms, p99 {engine['p99']:.1f} ms{notes}{check}",
        f"bare Starlette {fmt_rate(bare['rate'])} req/s, p50 {bare['p50']:.1f} ms, p99 {bare['p99']:.1f} ms",
        f"{ratio:.2f}x", GOAL,
        ratio >= 0.5 and engine["p99"] <= 20 and engine["non2xx"] == 0 and honest,
    )]
