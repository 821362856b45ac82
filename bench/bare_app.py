"""The baseline for the webhook benchmark: a bare Starlette POST endpoint answering 200.

``python -m bench.bare_app --port P`` serves it with the same uvicorn settings `engine serve` uses.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def receive(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"received": 1})


app = Starlette(routes=[Route("/v1/webhooks/{vendor}", receive, methods=["POST"])])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False,
                server_header=False)
