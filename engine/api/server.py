"""The HTTP server the engine's commands run the app on: uvicorn, with its own answers in the API's
error shape. A request that is not valid HTTP (a malformed request line or header, an unknown
Transfer-Encoding) never reaches the app: the server answers it, and uvicorn's answer is a
text/plain 400.

The protocol is named rather than left to uvicorn's "auto" choice, so the engine answers the same
whether or not httptools happens to be installed. WebSocket support is off: the API has no
WebSocket route, and an upgrade request then reaches the app as plain HTTP (and gets JSON).
"""

from __future__ import annotations

import json
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from engine.errors import BadRequest
from engine.logs import new_trace_id


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, answering what it refuses itself with the JSON error shape."""

    def send_400_response(self, msg: str) -> None:
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            # The app has already started its answer (a malformed body after it): no room for a
            # second one on this connection.
            self.transport.close()
            return
        body = json.dumps({"error": BadRequest(msg).to_dict()}).encode()
        # a request id like every answer of the app's, though no request reached the app
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"x-request-id", new_trace_id().encode()), (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def server(app: Any, *, host: str, port: int, log_level: str, **options: Any) -> uvicorn.Server:
    """A uvicorn server for `app` that logs through the engine's own logging setup."""
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, log_config=None,
                            server_header=False, http=JsonErrorH11Protocol, ws="none", **options)
    return uvicorn.Server(config)
