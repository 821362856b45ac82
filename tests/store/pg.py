"""A fresh PostgreSQL schema per test, on the server named by ENGINE_TEST_POSTGRES_URL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

POSTGRES_URL_ENV = "ENGINE_TEST_POSTGRES_URL"

_created: dict[str, str] = {}  # schema name -> server URL


def server_url() -> str:
    """The test server's URL; skips the test without one, fails it under CI=true."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if url:
        return url
    message = (
        f"PostgreSQL tests need {POSTGRES_URL_ENV} (run the suite with `make test`, which starts "
        "a throwaway server)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


def with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    options["options"] = f"-c search_path={schema}"
    # Names the test's connections, so a test that kills its own can leave other tests' alone.
    options["application_name"] = schema
    return urlunsplit(parts._replace(query=urlencode(options, quote_via=quote)))


def postgres_test_url(directory: Path) -> str:
    """A URL whose tables live in a schema of their own, created empty at first use."""
    import psycopg

    base = server_url()
    schema = "t_" + hashlib.sha256(str(directory).encode()).hexdigest()[:20]
    if schema not in _created:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"CREATE SCHEMA {schema}")
        _created[schema] = base
    return with_search_path(base, schema)


def drop_test_schemas() -> None:
    import psycopg

    for schema, base in list(_created.items()):
        try:
            with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        except psycopg.Error:
            pass  # the server is already gone (a throwaway cluster); nothing to clean
        _created.pop(schema, None)
