"""The app's lifespan runs the job loop in process: a queued job is handled with no separate
worker (and not at all with ENGINE_NO_WORKER=1)."""

from __future__ import annotations

import asyncio

import pytest

from engine.api.app import create_app
from engine.engine import Engine, Settings
from engine.store.port import JobSpec

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def settings(tmp_path, **extra) -> Settings:
    vendors = tmp_path / "vendors"
    vendors.mkdir(exist_ok=True)
    env = {"ENGINE_VENDORS_DIR": str(vendors), "ENGINE_DATA_DIR": str(tmp_path / "data"),
           "ENGINE_SECRET_KEY": "k" * 40, **extra}
    return Settings.from_env(env)


async def run_with_lifespan(engine: Engine, seconds: float) -> str:
    app = create_app(engine)
    async with app.router.lifespan_context(app):
        job = await engine.store.enqueue(JobSpec(kind="sync_poll", payload={"vendor": "nope"}))
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            state = (await engine.store.get_job(job.job_id)).state
            if state in ("done", "failed", "dead"):
                return state
            await asyncio.sleep(0.05)
        return "queued"


async def test_in_process_worker_runs_jobs(tmp_path):
    engine = Engine(settings(tmp_path))
    # an unknown vendor cannot succeed: the handler fails the job for good, with the reason
    assert await run_with_lifespan(engine, 5) == "failed"


async def test_no_worker_leaves_jobs_queued(tmp_path):
    engine = Engine(settings(tmp_path, ENGINE_NO_WORKER="1"))
    assert await run_with_lifespan(engine, 0.5) == "queued"  # nothing claimed it


async def test_the_running_app_keeps_its_start_up_objects_out_of_collections(tmp_path):
    import gc

    engine = Engine(settings(tmp_path, ENGINE_NO_WORKER="1"))
    app = create_app(engine)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 0  # specs, store and app were frozen once open
    assert gc.get_freeze_count() == 0  # and handed back to the collector when the app stops
