"""The operator console at `/console`: server-rendered pages over the engine's own services.

Pages: vendors (specs, webhook and poll status, rate budgets), connections (health, sync,
disconnect), jobs (queues, retries, backfill progress), samples (one user's series as charts and
a table) and outbound (endpoints, deliveries, replay). Behind a login (`engine.console.auth`);
`login_link(engine)` is the one-time link a keyless run prints at start.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from engine.console import login, pages
from engine.console.login import login_link


def routes(middleware: Sequence[Middleware] = ()) -> list[BaseRoute]:
    """The console under /console; `middleware` wraps all of it (the app adds the keyless rule)."""
    return [Route("/console", pages.home, methods=["GET"], middleware=list(middleware)),
            Mount("/console", middleware=list(middleware), routes=[
        Route("/", pages.home, methods=["GET"]),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login, methods=["POST"]),
        Route("/login/link", login.login_by_link, methods=["GET"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/vendors", pages.vendors_page, methods=["GET"]),
        Route("/connections", pages.connections_page, methods=["GET"]),
        Route("/connections/{vendor}/{user_id}/sync", pages.sync_action, methods=["POST"]),
        Route("/connections/{vendor}/{user_id}/disconnect", pages.disconnect_action, methods=["POST"]),
        Route("/jobs", pages.jobs_page, methods=["GET"]),
        Route("/jobs/retry-all", pages.retry_all_action, methods=["POST"]),
        Route("/jobs/{job_id}/retry", pages.retry_action, methods=["POST"]),
        Route("/syncs/{sync_id}", pages.sync_page, methods=["GET"]),
        Route("/syncs/{sync_id}/progress", pages.sync_progress, methods=["GET"]),
        Route("/syncs/{sync_id}/cancel", pages.cancel_action, methods=["POST"]),
        Route("/samples", pages.samples_index, methods=["GET"]),
        Route("/users/{user_id}/samples", pages.samples_page, methods=["GET"]),
        Route("/outbound", pages.outbound_page, methods=["GET"]),
        Route("/outbound/{endpoint_id}/replay", pages.replay_action, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("engine.console", "static")]), name="console-static"),
    ])]


__all__ = ["login_link", "routes"]
