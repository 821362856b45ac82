"""Benchmark 2: webhook ingest through uvicorn — `engine serve --no-worker` against a bare endpoint.

Engine: signed WHOOP deliveries (base64 HMAC-SHA256 over timestamp + body), each with a unique
event id, for a connected user, so every request runs the full path: verify, dedupe, durable
inbox write and job enqueue on SQLite. Baseline: `bench.bare_app`, a Starlette POST route
returning 200, under the same uvicorn settings. Load: wrk on loopback, one thread, fixed
connections, bounded duration; the first second of each server is a discarded warm-up.
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
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import ROOT, VENDORS, Row, fmt_rate, free_port, unavailable, wait_for_port

SECRET = "bench-whoop-client-secret"
ENGINE_KEY = "bench-engine-secret-key-0123456789abcdef0123"
VENDOR_USER = 10129
PATH = "/v1/webhooks/whoop"
LUA = Path(__file__).with_name("signed_requests.lua")
GOAL = ">= 0.5x bare, p99 <= 20 ms"


def _deliveries(path: Path, count: int) -> None:
    stamp = str(int(time.time() * 1000))
    with path.open("w") as out:
        for index in range(count):
            body = json.dumps({"user_id": VENDOR_USER, "id": f"sleep-{index}", "type": "sleep.updated",
                               "trace_id": f"bench-{stamp}-{index:08d}"}, separators=(",", ":"))
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
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
    errors = re.search(r"Socket errors:.*", out)
    return {"rate": rate, "p50": p50, "p99": p99, "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(0) if errors else ""}


def run(smoke: bool = False) -> list[Row]:
    if shutil.which("wrk") is None:
        return [unavailable("2 webhook ingest", "wrk is not installed (apt-get install wrk)", GOAL)]
    seconds, connections = (1, 4) if smoke else (8, 32)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "deliveries.tsv"
        _deliveries(data, 500 if smoke else 120_000)
        data_dir = Path(tmp) / "engine"
        asyncio.run(_connect_user(str(data_dir)))
        engine_env = {"ENGINE_DATA_DIR": str(data_dir), "ENGINE_SECRET_KEY": ENGINE_KEY,
                      "ENGINE_VENDORS_DIR": str(VENDORS), "ENGINE_ONLY": "whoop",
                      "WHOOP_CLIENT_ID": "bench-client", "WHOOP_CLIENT_SECRET": SECRET}
        port = free_port()
        with _server(["engine.cli", "serve", "--no-worker", "--log-level", "warning"], engine_env, port):
            if not smoke:
                _wrk(port, data, 1, connections)  # warm-up; fresh ids are signed for the run
                _deliveries(data, 120_000)
            engine = _wrk(port, data, seconds, connections)
        port = free_port()
        with _server(["bench.bare_app"], {}, port):
            if not smoke:
                _wrk(port, data, 1, connections)
            bare = _wrk(port, data, seconds, connections)
    ratio = engine["rate"] / bare["rate"]
    notes = f", {engine['non2xx']} non-2xx" if engine["non2xx"] else ""
    return [Row(
        f"2 webhook ingest: WHOOP signed, uvicorn, wrk -c{connections} {seconds}s",
        f"{fmt_rate(engine['rate'])} req/s, p50 {engine['p50']:.1f} ms, p99 {engine['p99']:.1f} ms{notes}",
        f"bare Starlette {fmt_rate(bare['rate'])} req/s, p50 {bare['p50']:.1f} ms, p99 {bare['p99']:.1f} ms",
        f"{ratio:.2f}x", GOAL,
        ratio >= 0.5 and engine["p99"] <= 20 and engine["non2xx"] == 0,
    )]
