"""The simulator's ASGI app: every vendor profile mounted under its own prefix."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import oauth
from sandbox.datasets import vendor_module
from sandbox.state import SimState


class Simulator:
    """Holds the simulated vendors' state (`.state`) and serves them (`.app`)."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        routes: list[Route] = [Route("/", self._index, methods=["GET"])]
        for name, profile in state.profiles.items():
            routes += oauth.routes(state, profile)
            routes += vendor_module(name).routes(state)
        self.app = Starlette(routes=routes)

    async def _index(self, request: Request) -> JSONResponse:
        return JSONResponse({"profiles": {n: p.prefix for n, p in self.state.profiles.items()}})


def create_sim(profile_names: list[str] | None = None, *,
               clock: Callable[[], float] = time.time, rate_limits: bool = True) -> Simulator:
    return Simulator(SimState(profile_names, clock=clock, rate_limits=rate_limits))
