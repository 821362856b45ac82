"""Shared pieces of the benchmarks: machine description, timing, and the results table."""

from __future__ import annotations

import os
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDORS = ROOT / "vendors"
RESULTS = Path(__file__).with_name("RESULTS.md")
TABLE_TITLE = "## Runs"
HEADER = (
    "| date | machine | benchmark | engine | baseline | ratio | goal | met |\n"
    "|---|---|---|---|---|---|---|---|\n"
)
PREAMBLE = (
    "# Benchmark results\n\n"
    "Written by `make bench`; each run appends its rows to the table at the end (newest last).\n"
    "Every benchmark runs its baseline in the same process run, on the same machine.\n\n"
)


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}, "
            f"load {load:.1f}")


@dataclass
class Row:
    benchmark: str
    engine: str
    baseline: str
    ratio: str
    goal: str
    met: bool | None  # None: not measured (the reason is in `engine`)
    day: str = field(default_factory=lambda: date.today().isoformat())
    host: str = field(default_factory=machine)  # taken when measured: the load average moves

    def markdown(self) -> str:
        met = "n/a" if self.met is None else ("yes" if self.met else "NO")
        cells = [self.day, self.host, self.benchmark, self.engine, self.baseline,
                 self.ratio, self.goal, met]
        return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |\n"


def unavailable(benchmark: str, reason: str, goal: str) -> Row:
    return Row(benchmark, f"not available: {reason}", "-", "-", goal, None)


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile of `values` (the nearest rank, no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fmt_rate(rate: float) -> str:
    return f"{rate / 1000:,.1f}k" if rate >= 10_000 else f"{rate:,.0f}"


def best_rate(fn: Callable[[], int], *, seconds: float, repeats: int = 3) -> float:
    """Items per second of ``fn`` (which returns how many items it processed), best of repeats."""
    best = 0.0
    for _ in range(repeats):
        count, start = 0, time.perf_counter()
        while True:
            count += fn()
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        best = max(best, count / elapsed)
    return best


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who).ru_maxrss
    return usage / 1024 if sys.platform != "darwin" else usage / (1024 * 1024)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate a child and reap it; killed when it has not stopped within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_port(port: int, timeout_s: float = 15.0, alive: Callable[[], bool] = lambda: True) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the server for port {port} exited before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


def record(rows: list[Row]) -> None:
    if not RESULTS.exists() or TABLE_TITLE not in RESULTS.read_text():
        RESULTS.write_text(PREAMBLE + TABLE_TITLE + "\n\n" + HEADER)
    with RESULTS.open("a") as out:
        for row in rows:
            out.write(row.markdown())
