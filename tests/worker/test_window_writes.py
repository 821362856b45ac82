"""A window's pages are written while the next page is fetched: every write has committed before
the window's cursor moves, pages mapped while a write is in flight go out together in the next
write (bounded), and a failed write fails the window with the cursor left behind."""

from __future__ import annotations

import asyncio

import pytest

from bench.pull import USER, _token_caller, _window, page_server, whoop_spec
from engine.engine import Engine, Settings
from engine.store.errors import StoreUnavailable
from engine.worker import sync

pytestmark = pytest.mark.anyio

RECORDS = 200  # 8 pages of 25


@pytest.fixture(scope="module")
def server_url():
    with page_server(RECORDS, 25) as url:
        yield url


async def _stored(engine: Engine) -> int:
    return len((await engine.store.list_samples(USER, limit=5000)).samples)


async def test_every_page_is_stored_before_the_cursor_moves(server_url, tmp_path) -> None:
    spec = whoop_spec(server_url)
    settings = Settings.from_env({"ENGINE_DATA_DIR": str(tmp_path), "ENGINE_VENDORS_DIR": "vendors"})
    async with Engine(settings, specs={"whoop": spec}) as engine:
        store = engine.store
        seen_at_cursor: list[int] = []
        set_cursor = store.set_cursor

        async def watching_set_cursor(*args, **kwargs):
            seen_at_cursor.append(await _stored(engine))
            return await set_cursor(*args, **kwargs)

        store.set_cursor = watching_set_cursor  # type: ignore[method-assign]
        result = await engine.sync.run_window(
            spec, USER, "sleep", _window(), caller=_token_caller())
        total = await _stored(engine)
    assert result.records == RECORDS and result.written == total > RECORDS
    assert seen_at_cursor == [total]


async def test_a_failed_page_write_fails_the_window_and_keeps_the_cursor(server_url, tmp_path) -> None:
    spec = whoop_spec(server_url)
    settings = Settings.from_env({"ENGINE_DATA_DIR": str(tmp_path), "ENGINE_VENDORS_DIR": "vendors"})
    async with Engine(settings, specs={"whoop": spec}) as engine:
        store = engine.store
        upsert = store.upsert_samples
        calls = [0]

        async def failing_second_upsert(rows, **kwargs):
            calls[0] += 1
            if calls[0] == 2:
                raise StoreUnavailable("disk gone")
            return await upsert(rows, **kwargs)

        store.upsert_samples = failing_second_upsert  # type: ignore[method-assign]
        with pytest.raises(StoreUnavailable, match="disk gone"):
            await engine.sync.run_window(spec, USER, "sleep", _window(), caller=_token_caller())
        assert await store.get_cursor("whoop", USER, "sleep") is None
        assert calls[0] == 2  # stopped at the failure, not at the end of the window
        assert await _stored(engine) > 0


async def _window_with_slow_first_write(server_url: str, tmp_path, seconds: float):
    """Run the window with the first upsert taking `seconds`; the row count of every upsert,
    the result and the rows stored."""
    spec = whoop_spec(server_url)
    settings = Settings.from_env({"ENGINE_DATA_DIR": str(tmp_path), "ENGINE_VENDORS_DIR": "vendors"})
    async with Engine(settings, specs={"whoop": spec}) as engine:
        store = engine.store
        upsert = store.upsert_samples
        sizes: list[int] = []

        async def slow_upsert(rows, **kwargs):
            sizes.append(len(rows))
            if len(sizes) == 1:
                await asyncio.sleep(seconds)
            return await upsert(rows, **kwargs)

        store.upsert_samples = slow_upsert  # type: ignore[method-assign]
        result = await engine.sync.run_window(spec, USER, "sleep", _window(), caller=_token_caller())
        return sizes, result, await _stored(engine)


async def test_pages_mapped_during_a_write_go_out_together(server_url, tmp_path) -> None:
    sizes, result, total = await _window_with_slow_first_write(server_url, tmp_path, 0.5)
    # page 1 alone, then the other 7 pages (fetched while it was being written) in one write
    assert len(sizes) == 2 and sum(sizes) == total == result.written
    assert result.records == RECORDS


async def test_rows_waiting_for_a_write_are_bounded(server_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sync, "MAX_WAITING_ROWS", 100)  # about two pages of samples
    sizes, result, total = await _window_with_slow_first_write(server_url, tmp_path, 0.5)
    assert sum(sizes) == total == result.written
    # The fetch waited for the slow write instead of piling up the other ~450 rows: a write
    # holds at most the bound plus the page that crossed it (a page here is ~64 rows).
    assert len(sizes) >= 4 and max(sizes) <= 200
