"""Every shell block of the quick start, run verbatim in an empty folder against loopback only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.markdown import DOCS, blocks

QUICK_START = DOCS / "quick-start.md"
PORT = 8787  # the port the page uses


def shell_blocks() -> list[str]:
    return [b.text for b in blocks(QUICK_START) if b.language in ("sh", "bash", "shell")]


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The reader's shell: no engine or vendor settings inherited from the test run."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ENGINE_", "ACME_")) and k not in ("PYTHONPATH",)}
    env["HOME"] = str(tmp_path)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_the_quick_start_has_shell_blocks():
    assert len(shell_blocks()) >= 5


@pytest.mark.slow
def test_every_quick_start_shell_block_runs_verbatim(tmp_path: Path):
    assert port_is_free(PORT), f"port {PORT} (used by the quick start) is taken on this machine"
    script = "set -euo pipefail\n" + "\n".join(shell_blocks())
    (tmp_path / "quick-start.sh").write_text(script)
    process = subprocess.Popen(
        ["bash", "quick-start.sh"], cwd=tmp_path, env=clean_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=120)
    finally:  # the page starts a server in the background; stop whatever is left of it
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    assert process.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    # What the page tells the reader they will see:
    assert '"sample_type":"sleep_session"' in out
    assert '"received":1,"new":1,"jobs":0' in out
    assert '"id":"acme"' in out and '"configured":true' in out
    assert "1 spec(s) checked, 0 invalid, 0 error(s)" in err
    assert "no connections" in out
    assert (tmp_path / "vendors" / "acme.yaml").is_file()
    assert "my-client-secret" not in out + err and "my-webhook-secret" not in out + err
