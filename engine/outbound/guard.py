"""Where outbound requests may go: only to configured endpoints, and, unless
ENGINE_OUTBOUND_ALLOW_PRIVATE=1, never to a private, loopback, link-local or otherwise
non-public address. The address check runs where the connection is made (the connection pool's
network backend resolves the host, refuses a non-public answer and connects to the address it
checked), so a name that resolves differently after registration cannot reach inside."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore2
import httpx2
from httpcore2._backends.auto import AutoBackend
from httpcore2._backends.base import SOCKET_OPTION, AsyncNetworkBackend, AsyncNetworkStream
from httpcore2._utils import is_socket_readable


class AddressRefused(httpcore2.ConnectError):
    """The endpoint's host resolves to an address outbound requests may not reach."""


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

Resolver = Callable[[str, int], Awaitable[list[str]]]


def is_public(address: str) -> bool:
    """Whether an address is globally routable; an IPv6 address that embeds an IPv4 one (mapped,
    6to4, the NAT64 prefix, the old IPv4-compatible form) is judged by the IPv4 address it reaches."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64 or ip in _IPV4_COMPATIBLE:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global and not ip.is_multicast


async def lookup(host: str, port: int) -> list[str]:
    """What the system resolver answers for a name."""
    answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in answers))


async def resolve(host: str, port: int, resolver: Resolver = lookup) -> list[str]:
    """Every address `host` resolves to (an address literal is its own answer)."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        return await resolver(host, port)


def refused(addresses: Iterable[str]) -> list[str]:
    return [address for address in addresses if not is_public(address)]


class _Stream(AsyncNetworkStream):
    """The backend's stream with the readability check the pool makes on each idle connection,
    for every request, done on the socket looked up once (the anyio stream rebuilds its table of
    attributes at each lookup: most of a delivery's CPU time)."""

    def __init__(self, inner: AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return is_socket_readable(self._socket)
        return self._inner.get_extra_info(info)


class GuardedBackend(AsyncNetworkBackend):
    """A network backend that connects only to public addresses (any, with `allow_private`)."""

    def __init__(self, resolver: Resolver | None = None, *, allow_private: bool = False) -> None:
        self._inner = AutoBackend()
        self._resolver = resolver or lookup
        self._allow_private = allow_private

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[SOCKET_OPTION] | None = None) -> AsyncNetworkStream:
        if not self._allow_private:
            try:
                addresses = await resolve(host, port, self._resolver)
            except OSError as error:
                raise httpcore2.ConnectError(f"cannot resolve {host}: {error.strerror or error}") from None
            bad = refused(addresses)
            if bad or not addresses:
                raise AddressRefused(f"{host} resolves to a non-public address ({', '.join(bad[:3])}); "
                                     "set ENGINE_OUTBOUND_ALLOW_PRIVATE=1 to allow it")
            host = addresses[0]  # TLS still verifies and sends the name: the pool starts it with the URL's host
        return _Stream(await self._inner.connect_tcp(host, port, timeout=timeout, local_address=local_address,
                                                     socket_options=socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[SOCKET_OPTION] | None = None) -> AsyncNetworkStream:
        raise AddressRefused("outbound requests do not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def create_outbound_pool(*, allow_private: bool, max_connections: int = 64,
                         resolver: Resolver | None = None) -> httpcore2.AsyncConnectionPool:
    """The connection pool deliveries are sent through (they need no more of an HTTP client:
    one POST, no redirects followed, no proxy, no cookies), with (unless `allow_private`) the
    address guard on every new connection; TLS verified as httpx2 verifies it."""
    ssl_context = httpx2.create_ssl_context(trust_env=False)
    return httpcore2.AsyncConnectionPool(
        ssl_context=ssl_context, max_connections=max_connections, max_keepalive_connections=max_connections,
        network_backend=GuardedBackend(resolver, allow_private=allow_private))

