"""Requests the simulated vendors make to a subscriber's callback URL (handshakes, pings)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx2

from sandbox.http import HttpError
from sandbox.state import SimState

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


async def call_callback(state: SimState, method: str, url: str, **kwargs: Any
                        ) -> httpx2.Response | None:
    """Send a handshake to `url`; None when handshakes are switched off.

    Only loopback URLs are contacted (the simulator never leaves the machine) unless an
    in-process transport was configured."""
    if not state.verify_callbacks:
        return None
    host = urlsplit(url).hostname or ""
    if state.outbound_transport is None and host not in LOOPBACK_HOSTS:
        raise HttpError(400, f"callback URL {url!r} is not reachable from the simulator "
                             "(only loopback); set state.verify_callbacks = False to skip")
    state.counters["outbound"] += 1
    async with httpx2.AsyncClient(transport=state.outbound_transport, timeout=5.0) as client:
        try:
            answer = await client.request(method, url, **kwargs)
        except httpx2.HTTPError as exc:
            raise HttpError(400, f"callback {url} failed: {exc.__class__.__name__}") from None
    if method == "POST" and answer.is_success:
        state.counters["outbound.post_2xx"] += 1  # a handshake the subscriber accepted as a delivery
    return answer
