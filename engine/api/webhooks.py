"""HTTP routes for vendor webhooks: `POST|GET|HEAD /v1/webhooks/{vendor}`.

The body is read as a stream and reading stops at the vendor's cap (413), so an oversized delivery
never sits in memory. Everything after the read is the framework-free receive pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.api.openapi import Operation, Param
from engine.errors import webhook_code_for_status
from engine.webhooks.handshake import Answer
from engine.webhooks.receive import WebhookReceiver, WebhookRequest

WEBHOOK_PATH = "/v1/webhooks/{vendor}"

ReceiverSource = WebhookReceiver | Callable[[], WebhookReceiver]


class BodyTooLarge(Exception):
    pass


class BadContentLength(Exception):
    pass


class ClientGone(Exception):
    pass


class WebhookEndpoint:
    """The webhook route as a plain ASGI app: the hottest route of the service reads the scope and
    the body messages itself and answers with two messages, without request/response objects.
    `receiver` is the receiver or a function returning it (for an app that builds its engine at
    start-up)."""

    __openapi__ = Operation(
        "A vendor's webhook deliveries (POST) and handshakes (GET, HEAD), checked as its spec says",
        {200: ("Stored and queued (or a handshake's answer)", {"type": ["object", "string", "null"]}),
         204: ("Stored, where the spec declares an empty acknowledgement", None)},
        params=[Param("vendor", "path", {"type": "string"})],
        body={"type": "object", "description": "Whatever the vendor sends, verified over the raw bytes"},
        body_required=False, public=True, head=True, tags=["webhooks"],
        description="No API key: the vendor's own signature (or the spec's trust rule) is checked.")

    def __init__(self, receiver: ReceiverSource) -> None:
        self.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        receiver = self.receiver if isinstance(self.receiver, WebhookReceiver) else self.receiver()
        vendor = scope["path_params"]["vendor"]
        method = scope["method"]
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        body = b""
        if method == "POST":
            try:
                body = await read_capped(headers.get("content-length"), receive, receiver.body_limit(vendor))
            except BodyTooLarge:
                return await send_answer(send, Answer(413, error_body(413, "body too large")))
            except BadContentLength:
                return await send_answer(send, Answer(400, error_body(400, "bad Content-Length")))
            except ClientGone:
                return None  # nobody is left to answer
        query_string = scope.get("query_string", b"")
        query = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)) if query_string else {}
        request = WebhookRequest(method=method, headers=headers, query=query, body=body)
        await send_answer(send, await receiver.handle(vendor, request))


class WebhookLane:
    """Middleware sending webhook deliveries straight to their routes, ahead of the exception
    middleware and the router, which they do not need (the route answers every failure itself).
    The routes stay in the router too; a request they match only partly (another method) and
    everything else passes through to it."""

    def __init__(self, app: ASGIApp, routes: list[Route]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def webhook_routes(receiver: ReceiverSource) -> list[Route]:
    """The webhook routes over one receiver (or a function returning it)."""
    return [Route(WEBHOOK_PATH, WebhookEndpoint(receiver), methods=["POST", "GET", "HEAD"], name="webhooks")]


async def read_capped(declared: str | None, receive: Receive, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed `limit` bytes."""
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise BadContentLength
        if int(declared) > limit:
            raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def dump_answer(content: Any) -> bytes:
    """Compact JSON; orjson writes the same bytes for the plain dicts answers are made of, and
    anything it would write differently (non-finite numbers, odd keys) takes the stdlib's path."""
    if type(content) is dict and all(type(v) in (str, int) for v in content.values()):
        try:
            return orjson.dumps(content)
        except TypeError:
            pass
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def error_body(status: int, message: str) -> dict[str, Any]:
    """The API's one error shape, `{"error": {"code", "message"}}`, for a webhook answer."""
    return {"error": {"code": webhook_code_for_status(status), "message": message}}


async def send_answer(send: Send, answer: Answer) -> None:
    content: Any = answer.json
    # The receive pipeline writes a failure as `{"error": "<message>"}`; it leaves as the API's
    # error shape. A spec-declared acknowledgement body (`raw`) is sent exactly as written.
    if answer.status >= 400 and isinstance(content, dict) and isinstance(content.get("error"), str):
        content = error_body(answer.status, content["error"])
    body = b""
    headers = []
    if answer.raw is not None:
        body = answer.raw
        headers.append((b"content-type", b"application/json"))
    elif content is not None:
        body = dump_answer(content)
        headers.append((b"content-type", b"application/json"))
    if answer.status != 204:  # a 204 carries no Content-Length (RFC 9110 8.6)
        headers.append((b"content-length", str(len(body)).encode()))
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in (answer.headers or {}).items()]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def engine_webhook_routes(engine: Any) -> list[Route]:
    """The webhook routes of an `Engine` (opened before the first request arrives)."""
    receivers: list[WebhookReceiver] = []

    def receiver_for() -> WebhookReceiver:
        if not receivers:
            receivers.append(WebhookReceiver(
                engine.specs, engine.store, env=engine.settings.env, clock=engine.clock,
                stored_secrets=engine.store.get_app_secrets, metrics=engine.metrics))
        return receivers[0]

    return webhook_routes(receiver_for)
