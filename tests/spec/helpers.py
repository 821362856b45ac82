"""Shared helpers for the spec tests."""

from __future__ import annotations

import json
from pathlib import Path

from engine.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
VENDOR_SPECS = sorted((REPO_ROOT / "vendors").glob("*.yaml"))


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_validate_json(capsys, *paths: str, check_env: bool = False) -> tuple[int, list[dict]]:
    argv = ["validate", "--format", "json", *paths] + (["--check-env"] if check_env else [])
    code, out, err = run_cli(capsys, *argv)
    assert "Traceback" not in out + err
    return code, json.loads(out)
