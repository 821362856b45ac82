"""Every pagination strategy over real HTTP: next-URL (Fitbit activity list), offset with a `more`
flag inside a `{status, body}` envelope (Withings), page numbers stopping on a short or empty page
(Strava), and Link headers on a small loopback API. Each returns every record exactly once, and
the max-pages guard ends a server that never stops."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.fetch.errors import TooManyPages
from engine.fetch.fetcher import Caller, Fetcher
from engine.fetch.windows import TimeWindow
from engine.spec.loader import load_spec
from engine.spec.model import Spec
from engine.store import open_store
from sandbox.server import serve_app_in_thread
from tests.fetch.test_fetch_sim import caller_for, quick_retries

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path):
    store = await open_store(None, tmp_path, secret_keys=["s" * 32])
    yield store
    await store.close()


@pytest.fixture
async def client():
    async with httpx2.AsyncClient() as http:
        yield http


def shipped(sim, vendor: str) -> Spec:
    return quick_retries(load_spec(ROOT / f"vendors/{vendor}.yaml", env=sim.env()))


def whole_range(days: int) -> TimeWindow:
    """One window reaching back past every record the simulator generated for `days`."""
    now = datetime.now(UTC)
    return TimeWindow(now - timedelta(days=days + 2), now)


async def collect(fetcher: Fetcher, caller, spec: Spec, resource: str, window: TimeWindow | None):
    pages, records = 0, []
    async for page in fetcher.pages(caller, spec.resources[resource], window):
        pages += 1
        records.extend(page.records)
    return pages, records


def assert_exactly_once(returned: list, expected: list) -> None:
    assert len(returned) == len(set(returned)), "a record came back twice"
    assert sorted(returned) == sorted(expected)


async def test_next_url_pages_fitbit_activity_list(sim, store, client):
    user = sim.state.add_user("fitbit", days=200)
    spec = shipped(sim, "fitbit")
    fetcher = Fetcher(spec, client, store)
    caller, _ = caller_for(sim, "fitbit", user)
    pages, records = await collect(fetcher, caller, spec, "activity_log", whole_range(200))
    truth = sim.state.records("fitbit", "activities", user.key)
    assert len(truth) > 100  # more than one page of the spec's limit
    assert pages == -(-len(truth) // 100)
    assert_exactly_once([r["logId"] for r in records], [r["logId"] for r in truth])
    # every page after the first used the vendor's own next URL (offset moves, the query stays)
    calls = sim.state.calls_to("fitbit", "/1/user/-/activities/list.json")
    assert len(calls) == pages


async def test_offset_with_more_flag_inside_the_envelope_withings(sim, store, client):
    user = sim.state.add_user("withings", days=60)
    sim.state.page_sizes["withings"] = 9
    spec = shipped(sim, "withings")
    fetcher = Fetcher(spec, client, store)
    caller, _ = caller_for(sim, "withings", user)
    pages, records = await collect(fetcher, caller, spec, "measure", whole_range(60))
    truth = sim.state.records("withings", "measures", user.key)
    assert len(truth) > 9 * 3
    assert pages == -(-len(truth) // 9)
    assert_exactly_once([r["grpid"] for r in records], [r["grpid"] for r in truth])


async def test_page_numbers_stop_on_a_short_page_strava(sim, store, client):
    user = sim.state.add_user("strava", days=400)
    spec = shipped(sim, "strava")
    fetcher = Fetcher(spec, client, store)
    caller, _ = caller_for(sim, "strava", user)
    truth = sim.state.records("strava", "activities", user.key)
    assert 200 < len(truth) < 400
    pages, records = await collect(fetcher, caller, spec, "activity", whole_range(400))
    assert pages == 2  # 200, then a short page: no third request
    assert_exactly_once([r["id"] for r in records], [r["id"] for r in truth])


async def test_page_numbers_stop_on_an_empty_page_strava(sim, store, client):
    user = sim.state.add_user("strava", days=400)
    for extra in sim.state.records("strava", "activities", user.key)[200:]:
        sim.state.delete_record("strava", "activities", user.key, str(extra["id"]))
    truth = sim.state.records("strava", "activities", user.key)
    assert len(truth) == 200  # exactly one full page: only an empty second page says "done"
    spec = shipped(sim, "strava")
    fetcher = Fetcher(spec, client, store)
    caller, _ = caller_for(sim, "strava", user)
    pages, records = await collect(fetcher, caller, spec, "activity", whole_range(400))
    assert pages == 2 and len(sim.state.calls_to("strava", "/api/v3/athlete/activities")) == 2
    assert_exactly_once([r["id"] for r in records], [r["id"] for r in truth])


# --------------------------------------------------------------------------- Link headers


LINK_RECORDS = [{"id": f"item-{n}", "at": 1_700_000_000 + n * 60, "steps": n} for n in range(52)]


def link_api() -> Starlette:
    """A paginated API answering with RFC 8288 Link headers (next, prev, last, in mixed order)."""

    async def items(request: Request) -> JSONResponse:
        size = int(request.query_params.get("per_page", "10"))
        page = int(request.query_params.get("page", "1"))
        chunk = LINK_RECORDS[(page - 1) * size: page * size]
        last = -(-len(LINK_RECORDS) // size)
        base = str(request.url.remove_query_params("page"))

        def at(number: int) -> str:
            return f"{base}&{urlencode({'page': number})}"

        links = [f'<{at(last)}>; rel="last"']
        if page > 1:
            links.append(f'<{at(page - 1)}>; rel="prev"')
        if page < last:
            links.insert(0, f'<{at(page + 1)}>; rel="next"')
        return JSONResponse(chunk, headers={"Link": ", ".join(links)})

    async def endless(request: Request) -> JSONResponse:
        page = int(request.query_params.get("page", "1"))
        following = str(request.url.include_query_params(page=page + 1))
        return JSONResponse([{"id": f"e-{page}", "at": 1_700_000_000 + page, "steps": 1}],
                            headers={"Link": f'<{following}>; rel="next"'})

    return Starlette(routes=[Route("/items", items), Route("/endless", endless)])


def serve(app: Starlette):
    return serve_app_in_thread(app, name="loopback API")


@pytest.fixture
def link_spec() -> Iterator[Spec]:
    with serve(link_api()) as base:
        yield load_spec(ROOT / "tests/specs/link_header_paged.yaml", env={"LINK_API_BASE": base})


async def fixed_token(*, force_refresh: bool = False) -> str:
    return "loopback-token"


async def test_link_header_pages_until_no_next(link_spec, store, client):
    fetcher = Fetcher(link_spec, client, store)
    caller = Caller(user_id="app-user", vendor_user_id=None, token=fixed_token)
    pages, records = await collect(fetcher, caller, link_spec, "items", whole_range(1))
    assert pages == -(-len(LINK_RECORDS) // 7)  # the spec asks for 7 per page
    assert_exactly_once([r["id"] for r in records], [r["id"] for r in LINK_RECORDS])


async def test_max_pages_stops_a_server_that_never_stops(link_spec, store, client):
    fetcher = Fetcher(link_spec, client, store)
    caller = Caller(user_id="app-user", vendor_user_id=None, token=fixed_token)
    seen: list[str] = []
    with pytest.raises(TooManyPages, match="more than 5 pages"):
        async for page in fetcher.pages(caller, link_spec.resources["endless"], None):
            seen.extend(r["id"] for r in page.records)
    assert seen == [f"e-{n}" for n in range(1, 6)]
    assert fetcher.stats.requests == 5

