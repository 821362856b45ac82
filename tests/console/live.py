"""A real browser against a real engine: the sandbox vendors and the engine's app on loopback
ports, Debian's chromium driven by chromedriver, and a separate worker engine on the same store
that the tests step one job at a time (as a separate `engine worker` process would run them)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2
import pytest

from engine.api.app import create_app
from engine.engine import Engine, Settings
from engine.worker.runner import Worker, WorkerConfig
from sandbox.server import RunningSim, free_port, serve_app_in_thread
from tests.auth.harness import API_KEY, AUTH, Clock, engine_env
from tests.examples import IN_CI

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "console-artifacts"
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage")


class Loop:
    """An event loop in a thread, for the worker engine the (synchronous) browser tests drive."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="worker-loop", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@dataclass
class Live:
    base_url: str
    api: httpx2.Client
    worker_engine: Engine
    worker: Worker
    loop: Loop

    def step(self) -> bool:
        """Run one due job (False when none is due)."""
        return self.loop.run(self.worker.run_once())

    def connect(self, vendor: str, user: str) -> None:
        """The user consents at the sandbox vendor and the vendor redirects to the engine."""
        started = self.api.post(f"/v1/users/{user}/connections/{vendor}")
        assert started.status_code == 201, started.text
        consent = httpx2.get(started.json()["authorization_url"])
        assert consent.status_code == 302, consent.text
        callback = urlsplit(consent.headers["location"])
        done = self.api.get(f"{callback.path}?{callback.query}")
        assert done.status_code == 200, done.text


@contextlib.contextmanager
def live_engine(sim: RunningSim, tmp_path: Path, clock: Clock, **extra: str) -> Iterator[Live]:
    port = free_port()
    env = engine_env(sim, tmp_path, ENGINE_PUBLIC_URL=f"http://127.0.0.1:{port}", ENGINE_NO_WORKER="1",
                     ENGINE_INITIAL_SYNC="0", **extra)
    app = create_app(Engine(Settings.from_env(env), clock=clock))
    with serve_app_in_thread(app, port=port, name="engine", lifespan="on") as base_url:
        loop = Loop()
        worker_engine = Engine(Settings.from_env(env), clock=clock)
        try:
            loop.run(worker_engine.open())
            worker = worker_engine.worker(WorkerConfig(backoff_base_s=0.01, backoff_cap_s=0.05))
            with httpx2.Client(base_url=base_url, headers=AUTH, timeout=30) as api:
                yield Live(base_url, api, worker_engine, worker, loop)
        finally:
            loop.run(worker_engine.close())
            loop.close()


def chrome(user_data_dir: Path, *, width: int = 1366, height: int = 900) -> Any:
    """Headless chromium through chromedriver; skipped without them, except under CI=true."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        missing = "chromium" if chromium is None else "chromedriver"
        reason = f"{missing} is not installed (Debian: apt-get install chromium chromium-driver)"
        if IN_CI:
            pytest.fail(f"CI=true requires the browser tests to run: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROME_FLAGS, f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def log_in(browser: Any, base_url: str, api_key: str = API_KEY) -> None:
    from selenium.webdriver.common.by import By

    if "/console/login" not in browser.current_url:
        browser.get(f"{base_url}/console/login")
    field = browser.find_element(By.ID, "api_key")
    field.send_keys(api_key)
    field.submit()
    wait_for(browser, lambda b: "/console/login" not in b.current_url and b.find_elements(By.CLASS_NAME, "logout"))


def wait_for(browser: Any, condition: Any, timeout: float = 20) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.05).until(condition)


def serious_violations(browser: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page."""
    browser.execute_script(AXE.read_text(encoding="utf-8"))
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done(String(e)));")
    assert isinstance(result, list), result
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result if v["impact"] in ("serious", "critical")]


def screenshot(browser: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path
