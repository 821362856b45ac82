"""Small spec builders for fetch tests."""

from __future__ import annotations

from collections.abc import Sequence

from engine.spec.compile import compile_spec
from engine.spec.model import Budget, Limits, Spec


def minimal_raw(base_url: str = "http://127.0.0.1:9/api") -> dict:
    return {
        "spec_version": 1,
        "id": "testvendor",
        "name": "Test vendor",
        "api": {"base_url": base_url},
        "auth": {
            "type": "oauth2",
            "authorize_url": "http://127.0.0.1:9/auth",
            "token_url": "http://127.0.0.1:9/token",
            "client_id": "${TV_ID}",
            "client_secret": "${TV_SECRET}",
        },
        "resources": {},
    }


def limits_spec(budgets: Sequence[Budget]) -> Spec:
    from dataclasses import replace

    spec = compile_spec(minimal_raw(), env={"TV_ID": "id", "TV_SECRET": "secret"})
    return replace(spec, limits=Limits(budgets=tuple(budgets)))
