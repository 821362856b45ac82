"""`engine serve --reload` restarts on a spec edit once the specs validate; a broken spec prints its
error and keeps the running server (uvicorn's reloader would watch only *.py without watchfiles)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

from sandbox.server import free_port
from tests.auth.harness import API_KEY, AUTH, ROOT, SECRET_KEY

pytestmark = pytest.mark.slow
LIVENESS_S = 60


def vendor_ids(port: int) -> list[str] | None:
    try:
        answer = httpx2.get(f"http://127.0.0.1:{port}/v1/vendors", headers=AUTH, timeout=2)
    except httpx2.TransportError:
        return None
    return sorted(v["id"] for v in answer.json()["vendors"]) if answer.status_code == 200 else None


def wait_for(predicate, what: str):
    deadline = time.monotonic() + LIVENESS_S
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def stuck_processes(group: int) -> str:
    """What is still running in the reloader's process group, with every Python stack in it dumped to
    the captured stderr (faulthandler, enabled in the environment, answers SIGABRT)."""
    listing = subprocess.run(["ps", "-o", "pid,ppid,stat,etime,wchan:24,args", "-g", str(group)],
                             capture_output=True, text=True, check=False).stdout
    os.killpg(group, signal.SIGABRT)
    time.sleep(2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    return listing


def test_reload_follows_valid_spec_edits_and_keeps_serving_through_a_broken_one(tmp_path: Path):
    vendors = tmp_path / "vendors"
    vendors.mkdir()
    (vendors / "whoop.yaml").write_bytes((ROOT / "vendors/whoop.yaml").read_bytes())
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ENGINE_VENDORS_DIR": str(vendors),
           "ENGINE_DATA_DIR": str(tmp_path / "data"), "ENGINE_API_KEY": API_KEY, "ENGINE_SECRET_KEY": SECRET_KEY,
           "PYTHONFAULTHANDLER": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--reload", "--port", str(port), "--no-worker",
         "--log-level", "warning", "--log-format", "text"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: vendor_ids(port), "the first server") == ["whoop"]

        (vendors / "oura.yaml").write_bytes((ROOT / "vendors/oura.yaml").read_bytes())
        wait_for(lambda: vendor_ids(port) == ["oura", "whoop"], "a restart with the new spec")

        (vendors / "broken.yaml").write_text("id: broken\nname: [unclosed\n")
        wait_for(lambda: any("not reloading" in line for line in lines), "the refusal")
        assert any("broken.yaml:" in line for line in lines), lines
        # still served with both specs (never restarted into the broken one; waiting covers a restart
        # for an unrelated code edit)
        wait_for(lambda: vendor_ids(port) == ["oura", "whoop"], "the server that stayed")

        (vendors / "broken.yaml").unlink()
        (vendors / "oura.yaml").unlink()
        wait_for(lambda: vendor_ids(port) == ["whoop"], "a restart once the specs load again")
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            code = process.wait(timeout=LIVENESS_S)  # the reloader stops its child, killing it after 10 s
        except subprocess.TimeoutExpired:
            code = None
            report = stuck_processes(process.pid)
    if code is None:
        reader.join(timeout=5)
        raise AssertionError(f"the reloader did not exit:\n{report}\n{''.join(lines)}")
    assert code == 0
    reader.join(timeout=5)
    assert not any("Traceback" in line for line in lines), "".join(lines)
    with pytest.raises(httpx2.TransportError):  # no server left behind
        httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
