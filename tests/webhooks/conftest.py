from __future__ import annotations

from pathlib import Path

import pytest

from engine.spec.loader import load_spec
from engine.spec.model import Spec
from engine.store import open_store

ROOT = Path(__file__).resolve().parents[2]

WHOOP_SECRET = "whoop-client-secret-for-tests"
OURA_SECRET = "oura-client-secret-for-tests"
FITBIT_SECRET = "fitbit-style-secret"
OURA_TOKEN = "oura-verification-token"
FITBIT_CODE = "fitbit-verify-code"

SPEC_ENV = {
    "WHOOP_CLIENT_ID": "whoop-id", "WHOOP_CLIENT_SECRET": WHOOP_SECRET,
    "OURA_CLIENT_ID": "oura-id", "OURA_CLIENT_SECRET": OURA_SECRET,
    "FITBIT_STYLE_CLIENT_ID": "fitbit-id", "FITBIT_STYLE_CLIENT_SECRET": FITBIT_SECRET,
}
RUNTIME_ENV = {"OURA_WEBHOOK_VERIFICATION_TOKEN": OURA_TOKEN, "FITBIT_STYLE_VERIFY_CODE": FITBIT_CODE}


def load(name: str, env: dict[str, str] | None = None) -> Spec:
    path = ROOT / ("tests/specs" if name == "fitbit_style" else "vendors") / f"{name}.yaml"
    return load_spec(path, env=SPEC_ENV if env is None else env)


@pytest.fixture(scope="session")
def specs() -> dict[str, Spec]:
    return {name: load(name) for name in ("whoop", "oura", "fitbit_style")}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path):
    opened = await open_store(None, tmp_path / "data", secret_keys=["k" * 32])
    try:
        yield opened
    finally:
        await opened.close()


async def connect(store, vendor: str, user_id: str, vendor_user_id: str) -> None:
    await store.upsert_connection(
        vendor, user_id, vendor_user_id=vendor_user_id, scopes=["read"],
        access_token="access", refresh_token="refresh", token_expires_at=None,
    )
