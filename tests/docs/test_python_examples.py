"""Every ```python example of the guide runs, in order, against the local Acme vendor.

Examples share one working folder (the Acme spec from the guide, `.engine/` store) and the
environment the guide describes, as a reader following the page would. A block marked
`<!-- requires: MODULE -->` runs only when MODULE is installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.acme_vendor import CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET, serve_acme
from tests.docs.markdown import Block, all_blocks, file_block

PYTHON_BLOCKS = all_blocks("python")
REPO = Path(__file__).resolve().parents[2]


def reader_env(root: Path, acme_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENGINE_", "ACME_"))}
    env.update({
        "PYTHONPATH": str(REPO), "HOME": str(root),
        # The walk-through's .env.local:
        "ACME_API_BASE": acme_url, "ACME_CLIENT_ID": CLIENT_ID, "ACME_CLIENT_SECRET": CLIENT_SECRET,
        "ACME_WEBHOOK_SECRET": WEBHOOK_SECRET, "ENGINE_API_KEY": "dev-api-key-change-me",
    })
    return env


def run(block: Block, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", block.text], check=False, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_guide_has_python_examples():
    assert len(PYTHON_BLOCKS) >= 8


@pytest.mark.slow
def test_every_python_example_runs(tmp_path: Path):
    (tmp_path / "vendors").mkdir()
    (tmp_path / "vendors" / "acme.yaml").write_text(file_block("vendors/acme.yaml").text)
    ran: list[str] = []
    not_installed: list[str] = []
    with serve_acme() as (acme_url, acme):
        env = reader_env(tmp_path, acme_url)
        for block in PYTHON_BLOCKS:
            needed = block.marker.get("requires")
            if needed and importlib.util.find_spec(needed) is None:
                not_installed.append(f"{block.where} ({needed})")
                continue
            result = run(block, tmp_path, env)
            assert result.returncode == 0, f"{block.where} failed:\n{result.stdout}\n{result.stderr}"
            assert "Traceback" not in result.stderr, f"{block.where}:\n{result.stderr}"
            ran.append(result.stdout)
        assert acme.revoked == [], "no example disconnects"
    output = "\n".join(ran)
    assert "alice is acme-42 at Acme" in output
    assert "sleep.updated acme-42 sleep-2" in output
    assert "401 webhook_unauthenticated" in output
    assert "connection_not_found 404" in output and "vendor_not_found" in output
    assert "{'status': 'ok'}" in output and "['acme']" in output
    assert "sleep sessions stored" in output
    assert len(ran) + len(not_installed) == len(PYTHON_BLOCKS)
    if not_installed:
        print("examples not run (module not installed):", ", ".join(not_installed))
