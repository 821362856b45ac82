"""The delivery loop: dispatch waiting outbox events, lease due deliveries, send each signed to
its endpoint, record the answer.

One process sends at most `concurrency` requests at once and at most `per_endpoint` to one
endpoint, so a slow endpoint holds its own slots only. A delivery is leased in the store; a
process killed mid-request leaves a lease that lapses, and the same message (same webhook-id) goes
out again. A failed attempt waits a full-jitter backoff, or the endpoint's Retry-After, and is
given up (delivery.failed) once the retry horizon since its event has passed."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from contextlib import suppress

import httpcore2

from engine.fetch.backoff import retry_delay
from engine.fetch.ratelimit import parse_retry_after
from engine.http import USER_AGENT
from engine.outbound.config import OutboundConfig
from engine.outbound.render import Renderer
from engine.outbound.signing import signature_headers
from engine.store.errors import StoreError
from engine.store.outbox_records import ClaimedDelivery, DeliveryPolicy
from engine.store.port import Store

log = logging.getLogger("engine.outbound")

_BUSY_POLL_S = 0.02
_IDLE_POLL_S = 0.5
_ROUND_GAP_S = 0.005  # answers within this share the next round: one claim fills several slots
_MAX_ANSWER_BYTES = 65536  # of a customer's answer body read (the connection is dropped after)
_SEND_ERRORS = (httpcore2.TimeoutException, httpcore2.NetworkError, httpcore2.ProtocolError,
                httpcore2.UnsupportedProtocol, httpcore2.ProxyError, ValueError, UnicodeError)


class Deliverer:
    def __init__(self, store: Store, config: OutboundConfig, renderer: Renderer,
                 pool: httpcore2.AsyncConnectionPool, *, worker_id: str,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None) -> None:
        self.store = store
        self.config = config
        self.renderer = renderer
        self.pool = pool
        self._timeouts = dict.fromkeys(("connect", "read", "write", "pool"), config.timeout_s)
        self.worker_id = worker_id
        self._clock = clock
        self._rng = rng or random.Random()
        self._in_flight: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        self._wake.set()

    # ------------------------------------------------------------------ one round

    async def round(self) -> int:
        """Dispatch what waits and start sending what is due; how many sends were started."""
        if await self.store.outbox_waiting():
            await self.store.dispatch_outbox(now=self._clock())
        started = 0
        if len(self._tasks) >= self.config.concurrency:
            return 0
        for endpoint in await self.store.due_endpoints(now=self._clock()):
            # each endpoint up to its own slots: one that is slow holds only those
            slots = min(self.config.per_endpoint - self._in_flight.get(endpoint, 0),
                        self.config.concurrency - len(self._tasks))
            if slots <= 0:
                continue
            claimed = await self.store.claim_deliveries(
                self.worker_id, limit=slots, lease_s=self.config.lease_s, endpoint_id=endpoint,
                now=self._clock())
            for item in claimed:
                self._in_flight[endpoint] = self._in_flight.get(endpoint, 0) + 1
                task = asyncio.create_task(self._send(item))
                self._tasks.add(task)
                task.add_done_callback(self._finished(endpoint))
            started += len(claimed)
        return started

    def _finished(self, endpoint: str) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            self._in_flight[endpoint] -= 1
            if not self._in_flight[endpoint]:
                del self._in_flight[endpoint]
            self._wake.set()  # a slot is free, and the user's next message may be due

        return done

    async def drain(self, *, rounds: int = 1000) -> None:
        """Run rounds until nothing is due or in flight (tests and one-shot commands)."""
        for _ in range(rounds):
            started = await self.round()
            if self._tasks:
                await asyncio.wait(set(self._tasks))
            elif not started:
                return

    # ------------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event) -> None:
        idle = _BUSY_POLL_S
        while not stop.is_set():
            try:
                started = await self.round()
            except StoreError as error:
                log.warning("outbound delivery: store unavailable (%s); retrying", error)
                started = 0
            idle = _BUSY_POLL_S if started else min(idle * 2, _IDLE_POLL_S)
            self._wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=idle)
            await asyncio.sleep(_ROUND_GAP_S)
        if self._tasks:  # let requests in flight finish briefly; the rest lapse and go out again
            await asyncio.wait(set(self._tasks), timeout=5)
            for task in self._tasks:
                task.cancel()

    # ------------------------------------------------------------------ one message

    async def _send(self, item: ClaimedDelivery) -> None:
        event, endpoint = item.event, item.endpoint
        now = self._clock()
        body = self.renderer.body(event)
        headers = [("User-Agent", USER_AGENT), ("Content-Type", "application/json"),
                   *signature_headers(event.id, int(now), body, endpoint.signing_secrets(now)).items()]
        status: int | None = None
        hint: float | None = None
        try:
            status, retry_after = await self._post(endpoint.url, headers, body.encode())
            hint = parse_retry_after(retry_after, self._clock())
            error = f"HTTP {status}"
        except _SEND_ERRORS as failure:
            error = f"{type(failure).__name__}: {failure}"[:300]
        try:
            if status is not None and 200 <= status < 300:
                await self.store.delivery_succeeded(endpoint.id, event.id, self.worker_id, status=status,
                                                    now=self._clock())
                return
            policy = self._policy(item, hint)
            state = await self.store.delivery_failed(endpoint.id, event.id, self.worker_id, status=status,
                                                     error=error, policy=policy, now=self._clock())
        except StoreError as failure:  # the lease lapses and the message goes out again
            log.warning("outbound delivery: cannot record the answer (%s)", failure)
            return
        level = logging.ERROR if state == "failed" else logging.INFO
        log.log(level, "delivery to %s failed (%s): %s", endpoint.id, error,
                "given up" if state == "failed" else f"retry at {policy.retry_at}",
                extra={"endpoint_id": endpoint.id, "event_id": event.id, "user": item.delivery.user_id})

    async def _post(self, url: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, str | None]:
        """POST through the pool: the status and the Retry-After header; of the answer's body
        at most `_MAX_ANSWER_BYTES` are read (nothing in it matters)."""
        async with self.pool.stream("POST", url, headers=headers, content=body,
                                    extensions={"timeout": self._timeouts}) as response:
            read = 0
            async for chunk in response.aiter_stream():
                read += len(chunk)
                if read > _MAX_ANSWER_BYTES:
                    break
            retry_after = next((value.decode("latin-1") for name, value in response.headers
                                if name.lower() == b"retry-after"), None)
            return response.status, retry_after

    def _policy(self, item: ClaimedDelivery, hint: float | None) -> DeliveryPolicy:
        now = self._clock()
        deadline = item.event.created_at + self.config.horizon_s
        delay = retry_delay(item.delivery.attempts, self.config.backoff_base_s, self.config.backoff_cap_s,
                            hint, self._rng.random)
        retry_at = None if now >= deadline else min(now + delay, deadline)
        return DeliveryPolicy(retry_at, self.config.pause_after_failures, self.config.pause_after_s)
