"""The HTTP/1.1 protocol `engine serve` runs: what the server refuses itself, on an in-memory
transport (the wiring into `engine serve` and uvicorn's command line is in test_serve.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
import pytest
import uvicorn
from uvicorn.server import ServerState

from engine.api.server import JsonErrorH11Protocol
from engine.logs import is_trace_id

pytestmark = pytest.mark.anyio


class MemoryTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: Any) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def answer_at_once(scope: Any, receive: Any, send: Any) -> None:
    """Answers without reading the request body."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


def connected() -> tuple[JsonErrorH11Protocol, MemoryTransport]:
    config = uvicorn.Config(answer_at_once, http=JsonErrorH11Protocol, ws="none", log_config=None,
                            lifespan="off")
    protocol = JsonErrorH11Protocol(config=config, server_state=ServerState(), app_state={})
    transport = MemoryTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def test_a_request_that_is_not_http_gets_a_json_400_and_the_connection_closes() -> None:
    protocol, transport = connected()
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
    head, _, body = transport.written.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 400 Bad Request"
    assert b"content-type: application/json" in head.split(b"\r\n")
    assert f"content-length: {len(body)}".encode() in head.split(b"\r\n")
    assert json.loads(body) == {"error": {"code": "bad_request", "message": "Invalid HTTP request received."}}
    request_ids = [line.partition(b": ")[2].decode() for line in head.split(b"\r\n")
                   if line.startswith(b"x-request-id: ")]
    assert len(request_ids) == 1 and is_trace_id(request_ids[0])
    assert transport.closed


async def test_a_malformed_body_after_the_answer_closes_the_connection_without_a_second_answer() -> None:
    protocol, transport = connected()
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n")
    await asyncio.sleep(0.05)  # the app's task runs and answers
    assert protocol.conn.our_state is h11.DONE
    answered = transport.written
    protocol.data_received(b"not a chunk size\r\n\r\n")  # raised LocalProtocolError before the guard
    assert transport.closed
    assert transport.written == answered
