"""The engine inside another Python application: one `Connector` per vendor.

    async with Engine.from_env() as engine:
        vendor = engine.connector("vendor-id")
        request = await vendor.authorization_url("app-user-1")

Every operation reuses the engine's own flows (OAuth, webhook pipeline, fetcher, sync planner)
and fails with the errors of `engine.errors`, the same codes the HTTP API answers with.

`Engine.connector()` builds the `Connector`, so this package sits just below the composition
root (`engine.engine`), above the worker: it sees the engine as the `WorkerContext` protocol
and never imports `engine.engine` (tests/test_import_layers.py holds it to that).
"""

from engine.python_api.connector import Connector, WebhookOutcome
from engine.python_api.limits import BudgetStatus, RateLimitStatus

__all__ = ["BudgetStatus", "Connector", "RateLimitStatus", "WebhookOutcome"]
