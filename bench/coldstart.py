"""Benchmark 5: cold start — process start to the first API request served, all vendor specs loaded.

The request is ``GET /v1/vendors``, which lists every loaded spec, so a served answer proves the
specs are in. Baseline: a bare Python process (the interpreter's own start-up floor).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from bench.common import ROOT, VENDORS, Row, free_port, stop_process
from engine.spec.loader import spec_files

GOAL_S = 1.5
API_KEY = "bench-cold-start-key"


def _first_answer(port: int, proc: subprocess.Popen, deadline: float) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/vendors",
                                     headers={"Authorization": f"Bearer {API_KEY}"})
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"engine serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.005)
    raise RuntimeError("engine serve answered nothing within the time limit")


def _one_start() -> tuple[float, int]:
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "ENGINE_DATA_DIR": data_dir, "ENGINE_API_KEY": API_KEY,
               "ENGINE_VENDORS_DIR": str(VENDORS), "PYTHONPATH": str(ROOT)}
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "serve", "--no-worker", "--port", str(port),
             "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            body = _first_answer(port, proc, started + 30)
            elapsed = time.monotonic() - started
        finally:
            stop_process(proc)
    return elapsed, len(body.get("vendors", []))


def _bare_python() -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - started


def run(smoke: bool = False) -> list[Row]:
    runs = 1 if smoke else 5
    starts = [_one_start() for _ in range(runs)]
    median = statistics.median(s for s, _ in starts)
    loaded = min(n for _, n in starts)
    expected = len(spec_files(VENDORS))
    if loaded != expected:
        raise AssertionError(f"the engine served {loaded} vendors, the directory has {expected}")
    bare = statistics.median(_bare_python() for _ in range(runs))
    return [Row(
        "5 cold start",
        f"{median:.2f} s to first served request ({loaded} specs; median of {runs})",
        f"bare `python -c pass` {bare:.2f} s",
        f"{median / bare:.1f}x interpreter floor",
        f"<= {GOAL_S} s",
        median <= GOAL_S,
    )]
