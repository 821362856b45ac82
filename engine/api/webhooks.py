"""HTTP routes for vendor webhooks: `POST|GET|HEAD /v1/webhooks/{vendor}`.

The body is read as a stream and reading stops at the vendor's cap (413), so an oversized delivery
never sits in memory. Everything after the read is the framework-free receive pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.webhooks.handshake import Answer
from engine.webhooks.receive import WebhookReceiver, WebhookRequest

WEBHOOK_PATH = "/v1/webhooks/{vendor}"

_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "not_configured", 413: "payload_too_large",
    503: "store_unavailable",
}

ReceiverSource = WebhookReceiver | Callable[[Request], WebhookReceiver]


class BodyTooLarge(Exception):
    pass


class BadContentLength(Exception):
    pass


def webhook_routes(receiver: ReceiverSource) -> list[Route]:
    """The webhook routes; `receiver` is the receiver or a function of the request returning it
    (for an app that builds its engine at start-up)."""

    async def endpoint(request: Request) -> Response:
        current = receiver if isinstance(receiver, WebhookReceiver) else receiver(request)
        vendor = request.path_params["vendor"]
        body = b""
        if request.method == "POST":
            try:
                body = await read_capped(request, current.body_limit(vendor))
            except BodyTooLarge:
                return _respond(Answer(413, {"error": "body too large"}))
            except BadContentLength:
                return _respond(Answer(400, {"error": "bad Content-Length"}))
            except ClientDisconnect:
                return Response(status_code=400)
        webhook_request = WebhookRequest(
            method=request.method,
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query_params),
            body=body,
        )
        return _respond(await current.handle(vendor, webhook_request))

    return [Route(WEBHOOK_PATH, endpoint, methods=["POST", "GET", "HEAD"], name="webhooks")]


async def read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise BadContentLength
        if int(declared) > limit:
            raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _respond(answer: Answer) -> Response:
    headers = dict(answer.headers or {})
    content: Any = answer.json
    if isinstance(content, dict) and "error" in content and answer.status >= 400:
        content = {"code": _CODES.get(answer.status, "rejected"), "message": content["error"]}
    if content is None:
        return Response(status_code=answer.status, headers=headers)
    return JSONResponse(content, status_code=answer.status, headers=headers)


def engine_webhook_routes(engine: Any) -> list[Route]:
    """The webhook routes of an `Engine` (opened before the first request arrives)."""
    receivers: list[WebhookReceiver] = []

    def receiver_for(_: Request) -> WebhookReceiver:
        if not receivers:
            receivers.append(WebhookReceiver(
                engine.specs, engine.store, env=engine.settings.env, clock=engine.clock,
                stored_secrets=engine.store.get_app_secrets))
        return receivers[0]

    return webhook_routes(receiver_for)
