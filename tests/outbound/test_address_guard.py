"""The outbound address guard: which addresses are public, the registration check, and the
connect-time check (a name that resolved to a public address at registration and to an inside
one when the request is made is refused before any byte leaves, against a real receiver on
loopback that would otherwise have answered)."""

from __future__ import annotations

import socket

import httpcore2
import pytest

from engine.outbound.endpoints import InvalidEndpoint, check_url
from engine.outbound.guard import create_outbound_pool, is_public
from tests.e2e.receiver import running_receiver

pytestmark = pytest.mark.anyio

PUBLIC = "93.184.215.14"


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), (PUBLIC, True), ("2606:4700::1111", True), ("::ffff:8.8.8.8", True),
    ("64:ff9b::808:808", True),  # NAT64 of a public address
    ("10.0.0.1", False), ("172.16.5.4", False), ("192.168.1.10", False),  # private
    ("100.64.0.1", False),  # carrier-grade NAT
    ("169.254.169.254", False), ("fe80::1", False), ("fe80::1%eth0", False),  # link-local, metadata
    ("127.0.0.1", False), ("127.8.9.10", False), ("::1", False),  # loopback
    ("0.0.0.0", False), ("::", False), ("255.255.255.255", False), ("224.0.0.1", False), ("ff02::1", False),
    ("fc00::1", False), ("fd12:3456::1", False),  # unique local
    ("198.18.0.1", False),  # benchmarking
    # IPv6 forms that carry an inside IPv4 address
    ("::ffff:127.0.0.1", False), ("::ffff:10.1.2.3", False), ("::ffff:169.254.169.254", False),
    ("2002:7f00:1::", False), ("2002:a00:1::", False),  # 6to4 of 127.0.0.1, 10.0.0.1
    ("64:ff9b::7f00:1", False), ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 127.0.0.1, 169.254.169.254
    ("::127.0.0.1", False), ("::10.0.0.1", False),  # IPv4-compatible
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
])
def test_which_addresses_are_public(address, public):
    assert is_public(address) is public


def answering(*answers: list[str] | Exception):
    """A resolver giving these answers in turn (the last one again after that), counting calls."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        answer = answers[min(len(calls), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


async def test_registration_refuses_a_name_resolving_inside_and_warns_when_it_does_not_resolve():
    assert await check_url("https://hooks.example.com/in", allow_private=False,
                           resolver=answering([PUBLIC])) == []
    for inside in (["10.0.0.7"], [PUBLIC, "127.0.0.1"], ["::ffff:192.168.0.1"], ["fe80::1"]):
        with pytest.raises(InvalidEndpoint) as refused:
            await check_url("https://hooks.example.com/in", allow_private=False, resolver=answering(inside))
        assert refused.value.field == "url" and inside[-1] in refused.value.message
    # an address literal is its own answer, no resolver asked
    resolver = answering([PUBLIC])
    for literal in ("https://127.0.0.1/in", "https://[::1]/in", "https://[::ffff:7f00:1]/in", "https://169.254.169.254/"):
        with pytest.raises(InvalidEndpoint):
            await check_url(literal, allow_private=False, resolver=resolver)
    assert resolver.calls == []
    warnings = await check_url("https://hooks.example.com/in", allow_private=False,
                               resolver=answering(socket.gaierror(socket.EAI_NONAME, "Name or service not known")))
    assert len(warnings) == 1 and "does not resolve" in warnings[0]
    # with ENGINE_OUTBOUND_ALLOW_PRIVATE=1 inside addresses (and http) are allowed
    assert await check_url("http://hooks.example.com/in", allow_private=True, resolver=answering(["127.0.0.1"])) == []


async def test_a_name_that_resolves_inside_at_connect_time_is_refused_before_connecting():
    with running_receiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        # registration saw a public address; by the time of the request the name points inside
        resolver = answering([PUBLIC], ["127.0.0.1"])
        assert await check_url(f"https://hooks.example.com:{port}/hook", allow_private=False,
                               resolver=resolver) == []
        url = f"http://hooks.example.com:{port}/hook"  # the guard is the same for http: plain, observable
        async with create_outbound_pool(allow_private=False, resolver=resolver) as pool:
            with pytest.raises(httpcore2.ConnectError, match=r"non-public address \(127\.0\.0\.1\)"):
                await pool.request("POST", url, content=b"{}")
            # a new connection checks again: an answer mixing a public and an inside address is refused too
            resolver_mixed = answering([PUBLIC, "::ffff:127.0.0.1"])
        async with create_outbound_pool(allow_private=False, resolver=resolver_mixed) as mixed:
            with pytest.raises(httpcore2.ConnectError, match="non-public address"):
                await mixed.request("POST", url, content=b"{}")
        assert resolver.calls == ["hooks.example.com", "hooks.example.com"]
        assert receiver.received == []  # nothing reached the receiver
        # the control: the same request, with private addresses allowed, does reach it
        async with create_outbound_pool(allow_private=True) as allowed:
            response = await allowed.request("POST", receiver.url, content=b"{}")
        assert len(receiver.received) == 1 and response.status == 400  # reached it (unsigned: refused)
