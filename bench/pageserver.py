"""A minimal local HTTP/1.1 server of paginated WHOOP-shaped sleep pages (for the pull benchmark).

``python -m bench.pageserver --port P --total N --page-size S [--uuid-ids] [--every-sample]``
serves ``GET <any path>`` with ``nextToken=<cursor>`` pagination (``next_token`` in the body),
keep-alive, each response in one write with TCP_NODELAY so small pages do not stall on Nagle +
delayed ACK. Loopback only. The two flags are `WhoopSleepPages`'s options of the same names.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from urllib.parse import parse_qs, urlsplit

from bench.data import WhoopSleepPages


def _cursor(target: str) -> int:
    values = parse_qs(urlsplit(target).query).get("nextToken")
    try:
        return max(0, int(values[0])) if values else 0
    except ValueError:
        return 0


async def _serve(pages: WhoopSleepPages, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split(" ")
            body = pages.page(_cursor(parts[1] if len(parts) > 1 else "/"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main_async(port: int, total: int, page_size: int, *, uuid_ids: bool = False,
                     every_sample: bool = False) -> None:
    pages = WhoopSleepPages(total, page_size, uuid_ids=uuid_ids, every_sample=every_sample)
    server = await asyncio.start_server(lambda r, w: _serve(pages, r, w), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--page-size", type=int, default=25)
    parser.add_argument("--uuid-ids", action="store_true", help="random-looking UUID record ids")
    parser.add_argument("--every-sample", action="store_true",
                        help="every record scored and not a nap (three samples each)")
    args = parser.parse_args()
    asyncio.run(main_async(args.port, args.total, args.page_size, uuid_ids=args.uuid_ids,
                           every_sample=args.every_sample))


if __name__ == "__main__":
    main()
