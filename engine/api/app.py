"""The Starlette application factory.

Routes come in two groups: public ones (probes, the OAuth callback, vendor webhooks, on-device
ingestion with its own per-user token) and the rest
of `/v1`, which needs the API key. Other parts of the engine add their routes by listing them in
`public_routes` or `protected_routes` below (one line each), or at run time through
`create_app(extra_public_routes=..., extra_protected_routes=...)`.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route

from engine.api import (
    changes,
    connections,
    data,
    endpoints,
    health,
    ingest,
    merged,
    metrics,
    oauth,
    openapi,
    reconnect,
    remap,
    vendors,
    webhooks,
)
from engine.api.edge import RequestEdge
from engine.api.errors import EXCEPTION_HANDLERS
from engine.api.security import RequireApiKey, Safeguards
from engine.console import routes as console_routes
from engine.engine import Engine, Settings
from engine.worker.scheduler import background_worker


def public_routes(engine: Engine) -> list[BaseRoute]:
    """Routes reachable without the API key (the busiest first: routes are matched in order)."""
    return [
        *webhooks.engine_webhook_routes(engine),
        *health.routes,
        *oauth.routes,
        *ingest.public_routes,  # its own credential: the user's ingest token
        *reconnect.routes,
        *metrics.routes,  # its own check: the API key or ENGINE_METRICS_TOKEN
        *openapi.routes,
        # Its own login (a session cookie, engine.console.auth); without a key, loopback only.
        *console_routes([] if engine.settings.api_key else [Middleware(RequireApiKey, api_key=None)]),
    ]


def protected_routes(engine: Engine) -> list[BaseRoute]:
    """Routes behind `Authorization: Bearer $ENGINE_API_KEY`."""
    return [
        *vendors.routes,
        *connections.routes,
        *ingest.routes,
        *data.routes,
        *merged.routes,
        *remap.routes,
        *endpoints.routes,
        *changes.routes,
    ]


def create_app(
    engine: Engine | None = None,
    *,
    settings: Settings | None = None,
    extra_public_routes: Sequence[BaseRoute] = (),
    extra_protected_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """Build the ASGI app around `engine` (default: one built from `settings` or the environment).

    The app's lifespan opens the engine if it is not open yet and then also closes it. When the
    app is mounted inside another one (whose lifespan does not reach it), open the engine first.
    """
    if engine is None:
        engine = Engine(settings or Settings.from_env())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened_here = not engine.is_open
        if opened_here:
            await engine.open()
        # Everything loaded so far (specs, compiled mappings, the app) lives as long as the app:
        # keep it out of the cyclic collector's scans, whose full passes over it would otherwise
        # stall requests for milliseconds. Garbage is collected first so none of it is kept.
        gc.collect()
        gc.freeze()
        if engine.settings.env.get("ENGINE_NO_WORKER") != "1":
            engine.outbound.start()
        try:
            async with background_worker(engine, engine.handlers):
                yield
        finally:
            gc.unfreeze()
            if opened_here:
                await engine.close()

    # Public routes are matched first; anything else falls through to the key-checked group, so
    # an unknown path without the key answers 401 rather than revealing what exists.
    public = public_routes(engine)
    lane = [r for r in public if isinstance(r, Route) and isinstance(r.endpoint, webhooks.WebhookEndpoint)]
    routes: list[BaseRoute] = [
        *public,
        *extra_public_routes,
        Mount(
            "",
            routes=[*protected_routes(engine), *extra_protected_routes],
            middleware=[Middleware(RequireApiKey, api_key=engine.settings.api_key)],
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Safeguards, engine=engine), Middleware(RequestEdge),
                    Middleware(webhooks.WebhookLane, routes=lane)],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=lifespan,
    )
    app.state.engine = engine
    return app
