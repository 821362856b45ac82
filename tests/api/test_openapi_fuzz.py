"""Schemathesis against the running app on loopback, from its own /openapi.json: every operation,
a bounded number of generated requests each (more under CI=true), no server error and no answer
the document does not describe (status, content type, body schema, headers)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path


def _load_the_packaging_distribution() -> object:
    """Schemathesis imports the `packaging` distribution, which the wheel checks' folder
    tests/packaging shadows once pytest has put tests/ on sys.path: load the real one for
    Schemathesis' imports, and give the name back afterwards (`_give_the_name_back`)."""
    tests_dir = Path(__file__).resolve().parents[1]
    loaded = sys.modules.get("packaging")
    if loaded is not None and hasattr(loaded, "version"):
        return loaded
    path = [p for p in sys.path if p and Path(p).resolve() != tests_dir]
    spec = importlib.machinery.PathFinder.find_spec("packaging", path)
    assert spec is not None and spec.loader is not None, "the packaging distribution is not installed"
    module = importlib.util.module_from_spec(spec)
    sys.modules["packaging"] = module
    spec.loader.exec_module(module)
    return loaded


def _give_the_name_back(before: object) -> None:
    # Schemathesis keeps its references to the submodules it imported; the name `packaging` goes
    # back to whatever it was, so tests/packaging still imports as itself.
    if before is None:
        sys.modules.pop("packaging", None)
    else:
        sys.modules["packaging"] = before  # type: ignore[assignment]


_packaging_before = _load_the_packaging_distribution()

import httpx2  # noqa: E402
import pytest  # noqa: E402
import schemathesis  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine.api.app import create_app  # noqa: E402
from engine.engine import Engine, Settings  # noqa: E402
from sandbox.server import serve_app_in_thread  # noqa: E402
from tests.auth.harness import AUTH, Clock, engine_env, running_sim  # noqa: E402
from tests.examples import IN_CI  # noqa: E402

_give_the_name_back(_packaging_before)

EXAMPLES = 60 if IN_CI else 8
FRAMING_HEADERS = {"transfer-encoding", "content-length", "connection", "upgrade", "te", "trailer"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


@pytest.fixture(scope="module")
def running_app(tmp_path_factory) -> Iterator[str]:
    with running_sim(Clock()) as sim:
        env = engine_env(sim, tmp_path_factory.mktemp("fuzz"), ENGINE_NO_WORKER="1")
        engine = Engine(Settings.from_env(env))
        # The app's lifespan opens the engine in the server's own loop.
        with serve_app_in_thread(create_app(engine), lifespan="on", name="engine under fuzz") as url:
            # One real connection, so routes about a user have something to find.
            with httpx2.Client(base_url=url, headers=AUTH, timeout=10) as client:
                start = client.post("/v1/users/fuzz-user/connections/whoop")
                assert start.status_code == 201, start.text
                consent = httpx2.get(start.json()["authorization_url"], timeout=10)
                callback = client.get(consent.headers["location"].replace("http://127.0.0.1:8000", url))
                assert callback.status_code == 200, callback.text
            yield url


@pytest.fixture(scope="module")
def api_schema(running_app: str):
    return schemathesis.openapi.from_url(f"{running_app}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=not IN_CI)
def test_every_operation_answers_as_documented(case, running_app):
    # Message framing belongs to the HTTP client: a generated `Transfer-Encoding: Db{Bn/<` makes a
    # request that is not HTTP, answered by the server's parser before any route sees it.
    for name in [name for name in case.headers or {} if name.lower() in FRAMING_HEADERS]:
        del case.headers[name]
    case.call_and_validate(base_url=running_app, headers=AUTH, checks=CHECKS, timeout=30)
