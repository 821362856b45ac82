"""The reconnect link in connection health events: signed, bound to vendor, user and expiry,
valid under every engine key, and any malformed query answered 403 in the API's error shape
(a non-ASCII digit in `expires` once reached `int()` and answered 500)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from engine.outbound.render import ReconnectLinks
from tests.auth.harness import PUBLIC_URL, query_of

KEY_A, KEY_B = "a" * 40, "b" * 40
NOW = 1_700_000_000


def parts(url: str) -> tuple[str, dict[str, str]]:
    return urlsplit(url).path.rsplit("/", 1)[-1], query_of(url)


def test_a_link_is_valid_until_it_expires_and_only_for_its_vendor_and_user():
    links = ReconnectLinks([KEY_A], PUBLIC_URL)
    vendor, query = parts(links.link("whoop", "user 1", NOW + 60))
    assert vendor == "whoop"
    assert links.valid("whoop", query["user"], query["expires"], query["sig"], NOW) is True
    assert links.valid("whoop", query["user"], query["expires"], query["sig"], NOW + 60) is False
    assert links.valid("oura", query["user"], query["expires"], query["sig"], NOW) is False
    assert links.valid("whoop", "user 2", query["expires"], query["sig"], NOW) is False
    assert links.valid("whoop", query["user"], str(NOW + 61), query["sig"], NOW) is False


def test_a_rotated_key_keeps_links_valid_and_a_foreign_key_does_not():
    _, query = parts(ReconnectLinks([KEY_A], PUBLIC_URL).link("whoop", "u", NOW + 60))
    args = ("whoop", query["user"], query["expires"], query["sig"], NOW)
    assert ReconnectLinks([KEY_B, KEY_A], PUBLIC_URL).valid(*args) is True
    assert ReconnectLinks([KEY_B], PUBLIC_URL).valid(*args) is False


@pytest.mark.parametrize("expires", ["\u00b9", "\u0663", "\uff11" * 3, "", "-1", "1e9", "9" * 13])
def test_an_expiry_that_is_not_ascii_digits_is_invalid_not_an_error(expires):
    assert ReconnectLinks([KEY_A], PUBLIC_URL).valid("whoop", "u", expires, "sig\u0097", NOW) is False


@pytest.mark.anyio
@pytest.mark.parametrize("query", [
    "user=&sig=v%C2%97%C2%90&expires=%C2%B9",  # what the API fuzzer sent
    "user=u&sig=x&expires=%D9%A3",
    "user=u&expires=99999999999",
    "",
])
async def test_a_malformed_link_is_a_403_in_the_error_shape(engine_and_client, query):
    _, client = engine_and_client
    response = await client.get(f"/v1/reconnect/whoop?{query}")
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "invalid_reconnect_link"


@pytest.mark.anyio
async def test_a_valid_link_redirects_to_the_vendors_consent_screen(engine_and_client, clock):
    engine, client = engine_and_client
    url = engine.outbound.links.link("whoop", "user-1", int(clock()) + 3600)
    response = await client.get(url)
    assert response.status_code == 302, response.text
    location = query_of(response.headers["location"])
    assert location["state"] and location["response_type"] == "code"
    clock.advance(3601)
    assert (await client.get(url)).status_code == 403
