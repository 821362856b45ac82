"""What the job handlers (and the `Connector` facade above them) see of the engine: the
`EngineContext` protocol plus the engine's sync service.

`engine.context` sits below the worker, so its protocol cannot name `SyncService`; this one adds
it, in the layer the service belongs to. `engine.engine.Engine` satisfies both."""

from __future__ import annotations

from typing import Protocol

from engine.context import EngineContext
from engine.worker.sync import SyncService


class WorkerContext(EngineContext, Protocol):
    @property
    def sync(self) -> SyncService: ...
