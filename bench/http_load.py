"""A bounded closed-loop HTTP/1.1 load client, used when wrk is not installed.

`connections` keep-alive connections each send the next prepared request as soon as the previous
answer arrived, for `seconds`; it reports the same figures the wrk script does. Slower than wrk (it
shares the machine's cores with the server), so its rows say which client measured them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    rate: float
    p50_ms: float
    p99_ms: float
    sent: int
    ok: int
    non2xx: int
    errors: int


def run_load(port: int, requests: list[bytes], seconds: float, connections: int) -> LoadResult:
    return asyncio.run(_run(port, requests, seconds, connections))


async def _run(port: int, requests: list[bytes], seconds: float, connections: int) -> LoadResult:
    latencies: list[float] = []
    counts = {"sent": 0, "ok": 0, "non2xx": 0, "errors": 0}
    order = iter(range(10**12))
    started = time.perf_counter()
    deadline = started + seconds

    async def connection() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            counts["errors"] += 1
            return
        try:
            while time.perf_counter() < deadline:
                request = requests[next(order) % len(requests)]
                sent_at = time.perf_counter()
                writer.write(request)
                counts["sent"] += 1
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - sent_at)
                counts["ok" if 200 <= status < 300 else "non2xx"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            counts["errors"] += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0.0

    return LoadResult(len(latencies) / elapsed, percentile(0.5), percentile(0.99), **counts)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


def post_request(path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
