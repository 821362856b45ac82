"""The customer's side in the outbound tests: a real HTTP server on loopback that checks every
delivery with the `standardwebhooks` package (the reference verifier, independent of the engine)
and answers from a script (503s, a 429 with Retry-After, a slow answer) before it answers 204."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Answer:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]
    status: int  # what the receiver answered
    verified: bool


class Receiver:
    def __init__(self) -> None:
        self.secret: str | None = None
        self.script: list[Answer] = []
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.url = ""

    def delivered(self) -> list[Received]:
        """The deliveries answered 2xx, in the order they arrived."""
        with self.lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def handle(self, headers: dict[str, str], raw: bytes) -> Answer:
        verified = False
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(raw, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
        with self.lock:
            answer = self.script.pop(0) if self.script else Answer()
            if not verified:
                answer = Answer(400)
            self.received.append(Received(headers.get("webhook-id", ""), json.loads(raw), answer.status, verified))
        return answer


@contextlib.contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            answer = receiver.handle({k.lower(): v for k, v in self.headers.items()}, raw)
            if answer.delay_s:
                time.sleep(answer.delay_s)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
