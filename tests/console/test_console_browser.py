"""The console in a real browser (headless chromium through chromedriver) against the engine and
the sandbox vendors on loopback: log in, see a connection made through the sandbox, start a sync
and watch its progress follow GET /v1/syncs/{id} to 100%, read the heart-rate chart's own series
back and compare it with the API's samples, retry a dead job; axe-core on every page, the samples
page at a phone's size, a screenshot of each page under build/console-artifacts/.

UPDATE_CONSOLE_SCREENSHOT=1 also writes the README's docs/console.png from this run."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.jobs import JobKind
from engine.store.port import JobSpec
from sandbox.server import RunningSim
from tests.auth.harness import Clock, running_sim
from tests.console.live import (
    ROOT,
    Live,
    chrome,
    live_engine,
    log_in,
    screenshot,
    serious_violations,
    wait_for,
)

pytestmark = pytest.mark.browser

DAYS = 60


@pytest.fixture(scope="module")
def sim() -> RunningSim:
    clock = Clock()
    with running_sim(clock) as running:
        running.clock = clock  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="module")
def live(sim, tmp_path_factory) -> Live:
    for _ in ("user-1", "user-2"):
        vendor_user = sim.state.add_user("oura", days=DAYS)
        sim.state.next_authorize("oura", user=vendor_user.key)
    with live_engine(sim, tmp_path_factory.mktemp("engine"), sim.clock) as running:
        for user in ("user-1", "user-2"):
            running.connect("oura", user)
        # user-2's history is there before the browser looks (user-1's is synced from the console)
        since = (datetime.now(UTC) - timedelta(days=DAYS - 1)).date().isoformat()
        assert running.api.post("/v1/users/user-2/connections/oura/sync", json={"since": since}).status_code == 202
        while running.step():
            pass
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = chrome(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


def _by_id(browser, element_id: str):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.ID, element_id)


def _css(browser, selector: str):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, selector)


def _ensure_logged_in(browser, live: Live) -> None:
    browser.get(f"{live.base_url}/console/vendors")
    if "/console/login" in browser.current_url:
        log_in(browser, live.base_url)


def test_log_in_see_the_connection_sync_it_and_read_its_heart_rate_chart(browser, live, sim):
    browser.delete_all_cookies()
    browser.get(f"{live.base_url}/console/connections")
    assert "/console/login" in browser.current_url  # refused until logged in
    log_in(browser, live.base_url)

    # the connection made through the sandbox's consent
    browser.get(f"{live.base_url}/console/connections?q=user-1")
    row = _by_id(browser, "connection-oura-user-1")
    assert "active" in row.find_element("css selector", ".status").text
    vendor_user = live.api.get("/v1/users/user-1/connections").json()["connections"][0]["vendor_user_id"]
    assert vendor_user and vendor_user in row.text

    # start a sync of a range; the console asks first
    row.find_element("css selector", "summary").click()
    since = (datetime.now(UTC) - timedelta(days=DAYS - 1)).date().isoformat()
    field = row.find_element("css selector", "input[name=since]")
    browser.execute_script("arguments[0].value = arguments[1]", field, since)
    field.find_element("xpath", "./ancestor::form").find_element("css selector", "button").click()
    confirm = wait_for(browser, lambda b: b.find_elements("id", "confirm-form"))[0]
    assert "user-1" in confirm.text and since in confirm.text
    confirm.find_element("css selector", "button[type=submit]").click()
    wait_for(browser, lambda b: "/console/syncs/" in b.current_url)
    sync_id = browser.current_url.rsplit("/", 1)[1]

    # the progress indicator follows GET /v1/syncs/{id} window by window up to 100%
    seen: list[int] = []
    bar = "progress.overall"
    total = live.api.get(f"/v1/syncs/{sync_id}").json()["windows_total"]
    assert total >= 3
    while True:
        api = live.api.get(f"/v1/syncs/{sync_id}").json()
        wait_for(browser, lambda b, done=api["windows_done"]: _css(b, bar).get_attribute("data-done") == str(done))
        assert int(_css(browser, bar).get_attribute("max")) == api["windows_total"] == total
        assert int(float(_css(browser, bar).get_attribute("value"))) == api["windows_done"]
        seen.append(api["windows_done"])
        if api["state"] == "done":
            break
        assert live.step()
    assert seen == list(range(total + 1))  # every intermediate value, in order
    wait_for(browser, lambda b: "100%" in _css(b, '[data-field="summary"]').text and "done" in _css(
        b, '[data-field="summary"]').text)
    resources = browser.find_elements("css selector", "progress[data-resource]")
    assert resources and all(r.get_attribute("value") == r.get_attribute("max") for r in resources)

    # the heart-rate chart plots exactly the API's samples, and the canvas is drawn
    browser.get(f"{live.base_url}/console/users/user-1/samples?type=heart_rate&range=all")
    wait_for(browser, lambda b: b.execute_script("return !!(window.engineCharts && window.engineCharts.heart_rate)"))
    xs, ys = browser.execute_script("const p = window.engineCharts.heart_rate; return [p.data[0], p.data[1]];")
    lines = live.api.get("/v1/users/user-1/samples", params={"type": "heart_rate", "format": "ndjson"}).text
    samples = [json.loads(line) for line in lines.splitlines()]
    assert len(samples) > 100
    expected_x = [round(datetime.fromisoformat(s["timestamp_utc"].replace("Z", "+00:00")).timestamp(), 3)
                  for s in samples]
    assert xs == pytest.approx(expected_x, abs=1e-6)
    assert ys == [s["bpm"] for s in samples]
    assert _by_id(browser, "chart").get_attribute("data-drawn") == "true"
    painted = browser.execute_script(
        "const c = document.querySelector('#chart canvas'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
        "for (let i = 3; i < d.length; i += 4) { if (d[i]) n++; } return [n, c.width * c.height];")
    assert painted[0] > 1000, painted  # lines and axes, not an empty canvas
    # provenance of a point, by keyboard
    _by_id(browser, "chart").send_keys("\ue012")  # arrow left
    point = samples[-2]  # the cursor starts at the last point
    moment = point["timestamp_utc"].replace("T", " ").replace("Z", "").split(".")[0]
    expected = f"{moment} UTC: {point['bpm']} bpm — oura · {point['provenance']['resource']}"
    wait_for(browser, lambda b: _by_id(b, "provenance").text.startswith(expected))


def test_retry_a_dead_job(browser, live):
    store = live.worker_engine.store

    async def dead_job() -> str:
        queued = await store.enqueue(JobSpec(JobKind.POLL, {"vendor": "oura", "user_id": "user-1",
                                                            "resource": "heartrate"},
                                             max_attempts=1, vendor="oura", user_id="user-1"))
        job = await store.claim("test-worker", kinds=[JobKind.POLL])
        assert job is not None and job.id == queued.job_id
        assert await store.fail(job.id, "test-worker", "oura answered 503 three times") == "dead"
        return job.id

    job_id = live.loop.run(dead_job())
    _ensure_logged_in(browser, live)
    browser.get(f"{live.base_url}/console/jobs")
    row = _by_id(browser, f"job-{job_id}")
    assert "oura answered 503" in row.text
    row.find_element("css selector", "button").click()
    confirm = wait_for(browser, lambda b: b.find_elements("id", "confirm-form"))[0]
    assert job_id in confirm.text
    confirm.find_element("css selector", "button[type=submit]").click()
    wait_for(browser, lambda b: b.current_url.endswith("/console/jobs"))
    retried = live.api.get(f"/v1/jobs?state=queued&kind={JobKind.POLL.value}").json()["jobs"]
    assert [(j["job_id"], j["attempts"]) for j in retried if j["job_id"] == job_id] == [(job_id, 0)]
    assert not browser.find_elements("id", f"job-{job_id}") or "Retry" not in _by_id(browser, f"job-{job_id}").text


PAGES = {
    "vendors": "/console/vendors",
    "connections": "/console/connections",
    "jobs": "/console/jobs",
    "samples": "/console/samples",
    "samples-heart-rate": "/console/users/user-2/samples?type=heart_rate&range=all",
    "samples-hrv": "/console/users/user-2/samples?type=hrv_rmssd&range=all",
    "samples-steps": "/console/users/user-2/samples?type=steps&range=all",
    "outbound": "/console/outbound",
}


def test_every_page_is_accessible_and_photographed(browser, live):
    browser.delete_all_cookies()
    browser.get(f"{live.base_url}/console/login")
    failures = {"login": serious_violations(browser)}
    screenshot(browser, "login")
    log_in(browser, live.base_url)
    for name, path in PAGES.items():
        browser.get(f"{live.base_url}{path}")
        if name.startswith("samples-"):
            wait_for(browser, lambda b: _by_id(b, "chart").get_attribute("data-drawn") == "true")
        failures[name] = serious_violations(browser)
        screenshot(browser, name)
    # a confirmation page, as the disconnect action shows it
    browser.get(f"{live.base_url}/console/connections?q=user-2")
    _css(browser, "#connection-oura-user-2 summary").click()
    _css(browser, "#connection-oura-user-2 button.danger").click()
    wait_for(browser, lambda b: b.find_elements("id", "confirm-form"))
    failures["confirm"] = serious_violations(browser)
    screenshot(browser, "confirm")
    assert {name: found for name, found in failures.items() if found} == {}
    if os.environ.get("UPDATE_CONSOLE_SCREENSHOT") == "1":
        shutil.copyfile(ROOT / "build" / "console-artifacts" / "samples-heart-rate.png", ROOT / "docs" / "console.png")


def test_the_samples_page_reads_on_a_phone(live, tmp_path_factory):
    phone = chrome(Path(tmp_path_factory.mktemp("chromium-phone")), width=390, height=844)
    try:
        log_in(phone, live.base_url)
        phone.get(f"{live.base_url}/console/users/user-2/samples?type=heart_rate&range=all")
        wait_for(phone, lambda b: _by_id(b, "chart").get_attribute("data-drawn") == "true")
        inner, scrolled = phone.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
        assert scrolled <= inner, "the page scrolls sideways on a phone"
        chart_width = phone.execute_script(
            "return document.querySelector('#chart canvas').getBoundingClientRect().width")
        assert 250 <= chart_width <= inner
        assert serious_violations(phone) == []
        screenshot(phone, "samples-phone")
    finally:
        phone.quit()
