"""Full-jitter exponential backoff: a random delay in ``[0, min(cap, base * 2**attempt))``."""

from __future__ import annotations

import random
from collections.abc import Callable


def full_jitter(
    attempt: int, base_s: float, cap_s: float, rand: Callable[[], float] = random.random
) -> float:
    """Delay before retry number ``attempt`` (0 for the first retry)."""
    ceiling = min(cap_s, base_s * (2 ** min(max(attempt, 0), 62)))
    return rand() * ceiling


def retry_delay(
    attempt: int,
    base_s: float,
    cap_s: float,
    server_hint_s: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """The wait before the next try: the server's hint (Retry-After) when it gives one, otherwise
    the jittered backoff. The hint is capped at ten times ``cap_s`` so a hostile header cannot park
    a worker for days."""
    jitter = full_jitter(attempt, base_s, cap_s, rand)
    if server_hint_s is None:
        return jitter
    return max(min(server_hint_s, cap_s * 10), 0.0)
