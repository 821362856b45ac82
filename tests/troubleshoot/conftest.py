"""A working folder like a deployment's: the guide's Acme spec, a SQLite store, the environment
`engine serve` would read; commands run in process through `engine.cli.main`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.cli import main
from engine.engine import Engine, Settings
from tests.docs.acme_vendor import CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET, AcmeState, serve_acme
from tests.docs.markdown import file_block

SECRET_KEY = "troubleshoot-test-secret-key-0123456789"


@dataclass
class Workspace:
    root: Path
    env: dict[str, str]
    acme: AcmeState
    capsys: pytest.CaptureFixture[str]

    def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def with_engine(self, body: Callable[[Engine], object]):
        async def go():
            async with Engine(Settings.from_env(self.env)) as engine:
                return await body(engine)

        return asyncio.run(go())


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Iterator[Workspace]:
    (tmp_path / "vendors").mkdir()
    (tmp_path / "vendors" / "acme.yaml").write_text(file_block("vendors/acme.yaml").text)
    with serve_acme() as (url, acme):
        env = {
            "ENGINE_VENDORS_DIR": str(tmp_path / "vendors"),
            "ENGINE_DATA_DIR": str(tmp_path / "data"),
            "ENGINE_SECRET_KEY": SECRET_KEY,
            "ACME_API_BASE": url,
            "ACME_CLIENT_ID": CLIENT_ID,
            "ACME_CLIENT_SECRET": CLIENT_SECRET,
            "ACME_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
        for name in ("ENGINE_DATABASE_URL", "ENGINE_API_KEY", "ENGINE_ONLY", "ENGINE_PUBLIC_URL"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        yield Workspace(tmp_path, env, acme, capsys)
