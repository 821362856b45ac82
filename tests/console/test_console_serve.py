"""A keyless `engine serve` prints a one-time console login link at start, and it opens the
console once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx2

from sandbox.server import free_port
from tests.auth.harness import ROOT, engine_env

LINK = re.compile(r"engine serve: console: (http://\S+/console/login/link\?t=\S+)")


def test_a_keyless_serve_prints_a_one_time_login_link(sim, tmp_path):
    port = free_port()
    env = {**os.environ, **engine_env(sim, tmp_path, ENGINE_PUBLIC_URL=f"http://127.0.0.1:{port}"),
           "PYTHONPATH": str(ROOT)}
    env.pop("ENGINE_API_KEY")
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--port", str(port), "--no-worker", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        link = None
        assert proc.stderr is not None
        while link is None:
            assert time.monotonic() < deadline and proc.poll() is None, "engine serve printed no login link"
            found = LINK.search(proc.stderr.readline())
            link = found.group(1) if found else None
        while True:
            try:
                opened = httpx2.get(link, headers={"Accept": "text/html"})
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "engine serve did not start"
                time.sleep(0.1)
        assert opened.status_code == 303 and opened.headers["location"] == "/console"
        session = opened.cookies.get("engine_console")
        assert session
        page = httpx2.get(f"http://127.0.0.1:{port}/console/vendors", headers={"Accept": "text/html"},
                          cookies={"engine_console": session})
        assert page.status_code == 200 and "Vendors" in page.text
        assert httpx2.get(link, headers={"Accept": "text/html"}).status_code == 401  # once only
    finally:
        proc.terminate()
        proc.wait(timeout=10)
