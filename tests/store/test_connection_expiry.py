"""`Connection.expires_in` / `is_expired`: the predecessor's `tokens.is_expired()`, on the record."""

from __future__ import annotations

from dataclasses import replace

from engine.store.records import Connection

BASE = Connection(vendor="whoop", user_id="u1", vendor_user_id="v1", status="active", scopes=(),
                  access_token="a", refresh_token="r", token_expires_at=1_000.0, token_version=1,
                  extra={}, last_webhook_at=None, last_pull_at=None, last_error=None,
                  created_at=0.0, updated_at=0.0)


def test_seconds_left_and_expiry_at_the_edge() -> None:
    assert BASE.expires_in(now=400.0) == 600.0
    assert BASE.expires_in(now=1_250.0) == -250.0
    assert not BASE.is_expired(now=999.0)
    assert BASE.is_expired(now=1_000.0)
    assert BASE.is_expired(now=940.0, leeway=60.0)
    assert not BASE.is_expired(now=939.0, leeway=60.0)


def test_a_token_without_an_expiry_never_counts_as_expired() -> None:
    forever = replace(BASE, token_expires_at=None)
    assert forever.expires_in(now=10**12) is None
    assert not forever.is_expired(now=10**12)
