"""State values: signed, expiring, vendor-bound, long enough; rotation of the engine secret."""

from __future__ import annotations

import pytest

from engine.auth.state import STATE_TTL_S, StateSigner
from engine.errors import OAuthError

KEY_A = "a" * 40
KEY_B = "b" * 40


def test_round_trip_and_length():
    signer = StateSigner([KEY_A])
    for min_length in (16, 32, 200, 512):
        issued = signer.issue("v", now=1000, min_length=min_length)
        assert len(issued.value) >= min_length
        assert signer.verify("v", issued.value, now=1000 + STATE_TTL_S - 1).nonce == issued.nonce


def test_states_are_unique():
    signer = StateSigner([KEY_A])
    assert len({signer.issue("v", now=0).value for _ in range(200)}) == 200


def test_expiry_vendor_binding_and_foreign_keys():
    signer = StateSigner([KEY_A])
    issued = signer.issue("v", now=1000)
    with pytest.raises(OAuthError) as caught:
        signer.verify("v", issued.value, now=1000 + STATE_TTL_S)
    assert caught.value.code == "state_expired"
    with pytest.raises(OAuthError) as caught:
        signer.verify("other", issued.value, now=1000)
    assert caught.value.code == "invalid_state"
    with pytest.raises(OAuthError):
        StateSigner([KEY_B]).verify("v", issued.value, now=1000)


def test_rotation_keeps_outstanding_states_valid():
    old = StateSigner([KEY_A]).issue("v", now=1000)
    rotated = StateSigner([KEY_B, KEY_A])
    assert rotated.verify("v", old.value, now=1000).nonce == old.nonce
    new = rotated.issue("v", now=1000)
    with pytest.raises(OAuthError):
        StateSigner([KEY_A]).verify("v", new.value, now=1000)
