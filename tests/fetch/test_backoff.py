from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.fetch.backoff import full_jitter, retry_delay


def test_full_jitter_bounds_grow_then_cap():
    ceilings = [full_jitter(n, 1.0, 60.0, rand=lambda: 1.0) for n in range(10)]
    assert ceilings == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert full_jitter(5, 1.0, 60.0, rand=lambda: 0.0) == 0.0


@given(attempt=st.integers(min_value=0, max_value=10_000), r=st.floats(min_value=0, max_value=0.999999))
def test_jitter_never_exceeds_cap_nor_goes_negative(attempt, r):
    delay = full_jitter(attempt, 0.5, 30.0, rand=lambda: r)
    assert 0.0 <= delay <= 30.0


def test_server_hint_wins_but_is_capped():
    assert retry_delay(0, 1.0, 10.0, server_hint_s=7.5) == 7.5
    assert retry_delay(0, 1.0, 10.0, server_hint_s=10**9) == 100.0
    assert retry_delay(3, 1.0, 10.0, server_hint_s=None, rand=lambda: 0.5) == 4.0
