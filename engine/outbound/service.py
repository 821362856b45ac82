"""`Outbound`: what the engine holds for outbound delivery (settings, renderer, the guarded
client, endpoint operations, the delivery loop), built once by `Engine.open()`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import suppress

import httpcore2

from engine.outbound.config import OutboundConfig
from engine.outbound.deliverer import Deliverer
from engine.outbound.endpoints import Endpoints
from engine.outbound.guard import create_outbound_pool
from engine.outbound.render import ReconnectLinks, Renderer
from engine.store.port import Store

log = logging.getLogger("engine.outbound")


class Outbound:
    def __init__(self, store: Store, config: OutboundConfig, *, secret_keys: Sequence[str],
                 public_url: str, worker_id: str, clock: Callable[[], float] = time.time,
                 pool: httpcore2.AsyncConnectionPool | None = None) -> None:
        self.config = config
        self.links = ReconnectLinks(secret_keys, public_url)
        self.renderer = Renderer(self.links, public_url, link_ttl_s=config.horizon_s)
        self.endpoints = Endpoints(store, config)
        self._owns_pool = pool is None
        self.pool = pool or create_outbound_pool(allow_private=config.allow_private,
                                                 max_connections=config.concurrency)
        self.deliverer = Deliverer(store, config, self.renderer, self.pool, worker_id=worker_id,
                                   clock=clock)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        store.configure_outbox(enabled=config.enabled, inline_samples=config.inline_samples,
                               retention_s=config.retention_s)

    def start(self) -> None:
        """Run the delivery loop in the background of this process (until `stop`)."""
        if self._task is None and self.config.enabled:
            self._stop.clear()
            self._task = asyncio.create_task(self.deliverer.run(self._stop))
            log.info("outbound delivery started", extra={"worker_id": self.deliverer.worker_id})

    async def stop(self) -> None:
        if self._task is not None:
            self._stop.set()
            with suppress(Exception):
                await asyncio.wait_for(self._task, timeout=10)
            self._task = None

    async def close(self) -> None:
        await self.stop()
        if self._owns_pool:
            await self.pool.aclose()
