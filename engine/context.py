"""What the worker, its handlers and the subscription managers see of the engine: the parts
`Engine` gives them, as a protocol, so those layers sit below the composition root and import
nothing from it. The engine's sync service is added by `engine.worker.context.WorkerContext`:
this module sits below the worker and imports nothing from it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import httpx2

from engine.auth.flows import OAuth
from engine.settings import Settings
from engine.spec.model import Spec
from engine.store.port import Store


class EngineContext(Protocol):
    settings: Settings
    clock: Callable[[], float]

    @property
    def store(self) -> Store: ...

    @property
    def oauth(self) -> OAuth: ...

    @property
    def http(self) -> httpx2.AsyncClient: ...

    @property
    def specs(self) -> Mapping[str, Spec]: ...

    def spec(self, vendor: str) -> Spec: ...

    def configured_spec(self, vendor: str) -> Spec: ...

    def webhook_url(self, vendor: str) -> str: ...

    def redirect_uri(self, vendor: str) -> str: ...
