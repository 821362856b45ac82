"""Token encryption at rest: AES-GCM bound to its row, key rotation, key loading."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine.store import DecryptionError, OAuthState, SecretKeyError, open_store
from engine.store.crypto import TokenCipher, load_secret_keys

from .conftest import store_url
from .helpers import TEST_SECRET, file_bytes

OLD = "old-secret-" + "o" * 32
NEW = "new-secret-" + "n" * 32
ROW = {"vendor": "acme", "user_id": "u1", "field": "refresh_token"}


def test_round_trip_and_fresh_nonce_each_time() -> None:
    cipher = TokenCipher([NEW])
    first = cipher.encrypt("tok-123", **ROW)
    second = cipher.encrypt("tok-123", **ROW)
    assert first != second
    assert first.startswith(f"v1.{cipher.current_key_id}.")
    assert cipher.decrypt(first, **ROW) == cipher.decrypt(second, **ROW) == "tok-123"
    assert "tok-123" not in first


@pytest.mark.parametrize(
    "other",
    [
        dict(ROW, user_id="u2"),
        dict(ROW, vendor="other"),
        dict(ROW, field="access_token"),
        {"vendor": "acme", "user_id": "u1r", "field": "efresh_token"},
    ],
)
def test_ciphertext_moved_to_another_row_or_field_fails(other: dict) -> None:
    cipher = TokenCipher([NEW])
    sealed = cipher.encrypt("tok-123", **ROW)
    with pytest.raises(DecryptionError) as raised:
        cipher.decrypt(sealed, **other)
    assert NEW not in str(raised.value) and "tok-123" not in str(raised.value)


def test_tampered_or_foreign_values_fail_cleanly() -> None:
    cipher = TokenCipher([NEW])
    sealed = cipher.encrypt("tok-123", **ROW)
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    for bad in (
        flipped,
        "plaintext",
        "v2.abc.def",
        "v1.deadbeef.AAAA",
        "v1." + cipher.current_key_id + ".!!!",
    ):
        with pytest.raises(DecryptionError):
            cipher.decrypt(bad, **ROW)


def test_rotation_old_key_still_decrypts_new_key_encrypts() -> None:
    sealed_before = TokenCipher([OLD]).encrypt("tok-old", **ROW)
    rotated = TokenCipher([NEW, OLD])
    assert rotated.decrypt(sealed_before, **ROW) == "tok-old"
    assert rotated.needs_reencryption(sealed_before)
    sealed_after = rotated.encrypt("tok-new", **ROW)
    assert not rotated.needs_reencryption(sealed_after)
    assert TokenCipher([NEW]).decrypt(sealed_after, **ROW) == "tok-new"
    with pytest.raises(DecryptionError):
        TokenCipher([OLD]).decrypt(sealed_after, **ROW)
    with pytest.raises(DecryptionError):
        TokenCipher([NEW]).decrypt(sealed_before, **ROW)


def test_env_keys_parsed_and_validated(tmp_path: Path) -> None:
    assert load_secret_keys(
        {"ENGINE_SECRET_KEY": f" {NEW} , {OLD} ,"}, tmp_path, allow_generate=False
    ) == (NEW, OLD)
    with pytest.raises(SecretKeyError) as raised:
        load_secret_keys(
            {"ENGINE_SECRET_KEY": f"{NEW},short-secret"}, tmp_path, allow_generate=True
        )
    assert "#2" in str(raised.value) and "short-secret" not in str(raised.value)
    assert not (tmp_path / "secret.key").exists()


def test_missing_key_is_an_error_unless_generation_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match="ENGINE_SECRET_KEY is required"):
        load_secret_keys({}, tmp_path, allow_generate=False)
    generated = load_secret_keys({}, tmp_path, allow_generate=True)
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(generated[0]) >= 32
    assert load_secret_keys({}, tmp_path, allow_generate=True) == generated
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]
    os.chmod(key_file, 0o644)
    assert load_secret_keys({}, tmp_path, allow_generate=True) == generated
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


@pytest.mark.anyio
async def test_default_store_generates_and_reuses_its_key(tmp_path: Path) -> None:
    store = await open_store(None, tmp_path, env={})
    await store.upsert_connection(
        "acme",
        "u1",
        vendor_user_id=None,
        scopes=[],
        access_token="at-secret-value",
        refresh_token=None,
        token_expires_at=None,
    )
    await store.close()
    reopened = await open_store(None, tmp_path, env={})
    try:
        assert (await reopened.get_connection("acme", "u1")).access_token == "at-secret-value"
    finally:
        await reopened.close()
    assert (tmp_path / "engine.db").exists() and (tmp_path / "secret.key").exists()


@pytest.mark.anyio
@pytest.mark.parametrize("adapter", ["sqlite"])
async def test_no_plaintext_secret_reaches_the_database_files(adapter: str, tmp_path: Path) -> None:
    access, refresh, verifier = "ACCESS-7f3a9c", "REFRESH-81bd02", "VERIFIER-c0ffee-" + "x" * 40
    store = await open_store(store_url(adapter, tmp_path), tmp_path, secret_keys=[TEST_SECRET])
    try:
        connection = await store.upsert_connection(
            "acme",
            "u1",
            vendor_user_id="vu",
            scopes=["a"],
            access_token=access,
            refresh_token=refresh,
            token_expires_at=None,
        )
        await store.update_tokens(
            "acme",
            "u1",
            expected_version=connection.token_version,
            access_token=access + "-2",
            refresh_token=refresh + "-2",
            token_expires_at=None,
        )
        await store.put_oauth_state(
            OAuthState(
                state_id="st", vendor="acme", user_id="u1", expires_at=9e9, pkce_verifier=verifier
            )
        )
        on_disk_while_open = file_bytes(tmp_path)
    finally:
        await store.close()
    for blob in (on_disk_while_open, file_bytes(tmp_path)):
        assert b"u1" in blob  # the scan does see the rows
        for secret in (access, refresh, verifier, TEST_SECRET):
            assert secret.encode() not in blob


@pytest.mark.anyio
async def test_store_opened_with_the_wrong_key_refuses_to_decrypt(tmp_path: Path) -> None:
    store = await open_store(None, tmp_path, secret_keys=[OLD])
    await store.upsert_connection(
        "acme",
        "u1",
        vendor_user_id=None,
        scopes=[],
        access_token="at",
        refresh_token="rt",
        token_expires_at=None,
    )
    await store.close()
    wrong = await open_store(None, tmp_path, secret_keys=[NEW])
    try:
        with pytest.raises(DecryptionError, match="not among the configured"):
            await wrong.get_connection("acme", "u1")
    finally:
        await wrong.close()
    rotated = await open_store(None, tmp_path, secret_keys=[NEW, OLD])
    try:
        assert (await rotated.get_connection("acme", "u1")).refresh_token == "rt"
    finally:
        await rotated.close()
