"""Benchmark: the console's samples page with 50,000 heart-rate points, in headless chromium.

Page weight is every byte the browser received for the page (document, styles, scripts, the
embedded series) by the Resource Timing API; time to first render is navigation start to the
chart's first draw (uPlot's draw hook). Baseline, same run and browser: the vendors page, which
draws no chart. Needs chromium and chromedriver (`make browser`).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.common import Row, unavailable
from engine.api.app import create_app
from engine.engine import Engine, Settings
from engine.store.port import SampleRecord
from sandbox.server import free_port, serve_app_in_thread

POINTS = 50_000
GOAL_MS = 2000.0
KEY = "bench-console-key-0123456789abcdef"
WEIGHT = ("return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
          ".reduce((n, e) => n + (e.transferSize || e.encodedBodySize || 0), 0)")


async def _seed(env: dict[str, str], points: int) -> None:
    start = datetime.now(UTC) - timedelta(minutes=points)
    async with Engine(Settings.from_env(env)) as engine:
        batch = []
        for i in range(points):
            at = start + timedelta(minutes=i)
            sample = {"user_id": "bench", "source": "oura", "sample_type": "heart_rate",
                      "timestamp_utc": at.isoformat().replace("+00:00", "Z"), "bpm": 55 + (i * 7) % 60,
                      "tz_offset_min": 60, "local_date": at.date().isoformat(),
                      "provenance": {"resource": "heartrate", "vendor_record_id": str(i // 288)}}
            batch.append(SampleRecord.from_sample(sample, f"hr-{i}"))
            if len(batch) == 5000:
                await engine.store.upsert_samples(batch)
                batch = []
        if batch:
            await engine.store.upsert_samples(batch)


def _measure(browser, url: str, chart: bool) -> tuple[float, int]:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    if chart:
        WebDriverWait(browser, 60, poll_frequency=0.01).until(
            lambda b: b.execute_script("return document.getElementById('chart').dataset.drawnAt"))
        rendered = float(browser.execute_script("return document.getElementById('chart').dataset.drawnAt"))
    else:
        rendered = float(browser.execute_script(
            "const p = performance.getEntriesByName('first-contentful-paint')[0];"
            "return p ? p.startTime"
            " : performance.timing.domContentLoadedEventEnd - performance.timing.navigationStart"))
    return rendered, int(browser.execute_script(WEIGHT))


def run(smoke: bool = False) -> list[Row]:
    from tests.console.live import chrome, log_in

    points = 2000 if smoke else POINTS
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {"ENGINE_DATA_DIR": str(Path(tmp) / "data"), "ENGINE_API_KEY": KEY, "ENGINE_NO_WORKER": "1",
               "ENGINE_PUBLIC_URL": f"http://127.0.0.1:{port}", "ENGINE_ONLY": "oura"}
        asyncio.run(_seed(env, points))
        app = create_app(Engine(Settings.from_env(env)))
        with serve_app_in_thread(app, port=port, lifespan="on") as base:
            try:
                browser = chrome(Path(tmp) / "profile")
            except pytest.skip.Exception as missing:  # no browser on this machine: say so in the row
                return [unavailable("console samples page: first chart render", str(missing), f"<= {GOAL_MS:.0f} ms")]
            try:
                log_in(browser, base, KEY)
                samples, plain = [], []
                for _ in range(1 if smoke else 5):
                    page = f"{base}/console/users/bench/samples?type=heart_rate&range=1y"
                    samples.append(_measure(browser, page, True))
                    plain.append(_measure(browser, f"{base}/console/vendors", False))
            finally:
                browser.quit()
    render = statistics.median(t for t, _ in samples)
    baseline = statistics.median(t for t, _ in plain)
    weight = samples[-1][1]
    return [
        Row(f"console samples page, {points} HR points: first chart render", f"{render:.0f} ms",
            f"{baseline:.0f} ms (vendors page, no chart)", f"{render / baseline:.1f}x", f"<= {GOAL_MS:.0f} ms",
            render <= GOAL_MS),
        Row(f"console samples page, {points} HR points: page weight", f"{weight / 1024:.0f} KiB",
            f"{plain[-1][1] / 1024:.0f} KiB (vendors page)", f"{weight / max(plain[-1][1], 1):.1f}x", "-", None),
    ]
