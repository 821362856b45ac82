"""No 500 on any input: hostile requests against every route of the running ASGI app.

The app is the real one (`create_app` over an engine with the shipped specs, a simulator behind
it and one connected user), reached in-process. Every route the app declares is sent every
hostile bundle Hypothesis draws: JSON nested thousands of levels deep, NaN / Infinity / 1e999,
huge and negative numbers, bodies that are not UTF-8 (UTF-16 with a BOM, Latin-1, invalid bytes),
unpaired surrogate escapes, giant headers, and bad cursors, timestamps and numbers in every query
parameter and path parameter. Webhook deliveries are also sent signed, so hostile bodies get past
verification to the decoder. No response may be a 5xx, and every error answer that has a body has
the API's one error shape `{"error": {"code", "message", ...}}`.

The named attacks from the report are also tests of their own, each failing before its fix. Run
with `-s` to see how many cases were tried.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from json import dumps, loads
from typing import Any
from urllib.parse import quote, unquote, urlencode

import httpx2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.routing import BaseRoute, Mount, Route

from engine.api.app import create_app
from engine.engine import Engine, Settings
from tests.auth.harness import AUTH, ENVELOPE, PUBLIC_URL, Clock, connect, engine_env, running_sim
from tests.examples import examples
from tests.webhooks.signers import oura_headers, whoop_headers

USER = "hostile-user"
OTHER_USER = "hostile-other-user"


class HostileInputsReport(UserWarning):
    """How many hostile cases ran (a report, not a problem)."""

VENDORS = ["whoop", "oura", ENVELOPE]


# --------------------------------------------------------------------------- the running app


@dataclass(repr=False)
class Target:
    """The app under attack, driven from synchronous Hypothesis tests on one event loop."""

    runner: asyncio.Runner
    engine: Engine
    app: Any
    client: httpx2.AsyncClient
    routes: list[tuple[str, str]]  # (path template, method), every route the app declares
    secrets: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)  # a real sync id and job id
    cases: int = 0
    server_errors: int = 0
    seen: set[tuple[str, str]] = field(default_factory=set)

    def send(self, method: str, url: str, *, route: tuple[str, str] | None = None, params: Any = (),
             headers: Any = (), content: bytes = b"", json: Any = None) -> Answer:
        if json is not None:
            content, headers = dumps(json).encode(), [*pairs(headers), ("Content-Type", "application/json")]
        path, _, query = url.partition("?")
        extra = urlencode(list(params.items()) if isinstance(params, dict) else list(params or ()))
        query = "&".join(part for part in (query, extra) if part)
        response = self.runner.run(asgi_request(self.app, method, path, query.encode(), pairs(headers), content))
        self.cases += 1
        if route is not None:
            self.seen.add(route)
        self.server_errors += response.status_code >= 500
        assert response.status_code < 500, (method, url[:200], response.status_code, response.text[:500])
        check_error_shape(response)
        return response


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return loads(self.content)


def pairs(headers: Any) -> list[tuple[str, str | bytes]]:
    return list(headers.items()) if isinstance(headers, dict) else list(headers)


def check_error_shape(response: Answer) -> None:
    if response.status_code < 400 or not response.content:
        return
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and error["message"], body


def declared_routes(routes: list[BaseRoute]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Mount):
            found.extend((route.path + path, method) for path, method in declared_routes(route.routes))
        elif isinstance(route, Route):
            found.extend((route.path, method) for method in sorted(route.methods or ()))
    return list(dict.fromkeys(found))


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Iterator[Target]:
    clock = Clock()
    with running_sim(clock) as sim, asyncio.Runner() as runner:
        env = engine_env(sim, tmp_path_factory.mktemp("hostile"))
        engine = Engine(Settings.from_env(env), clock=clock)
        app = create_app(engine)
        stack = contextlib.AsyncExitStack()
        runner.run(stack.enter_async_context(engine))
        client = runner.run(stack.enter_async_context(httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url=PUBLIC_URL)))
        try:
            found = Target(runner, engine, app, client, declared_routes(app.routes),
                           {"whoop": env["WHOOP_CLIENT_SECRET"], "oura": env["OURA_CLIENT_SECRET"]})
            connected = runner.run(connect(client, "whoop", USER))
            assert connected.status_code == 200, connected.text
            since = (datetime.now(UTC) - timedelta(days=2)).isoformat()
            sync = runner.run(client.post(f"/v1/users/{USER}/connections/whoop/sync", json={"since": since},
                                          headers=AUTH))
            assert sync.status_code == 202, sync.text
            found.ids["sync_id"] = sync.json()["sync_id"]
            jobs = runner.run(client.get("/v1/jobs", headers=AUTH)).json()["jobs"]
            found.ids["job_id"] = jobs[0]["job_id"]
            yield found
            # Printed (visible with -s) and warned (in the warnings summary, also under xdist,
            # where each worker reports the cases it ran).
            line = (f"hostile inputs: {found.cases} cases, {found.server_errors} responses >= 500 "
                    f"({len(found.seen)} of {len(found.routes)} route methods reached)")
            print("\n" + line)
            warnings.warn(HostileInputsReport(line), stacklevel=1)
        finally:
            runner.run(stack.aclose())


def report(target: Target, name: str, before: int) -> None:
    print(f"\nhostile inputs ({name}): {target.cases - before} cases, 0 responses >= 500 "
          f"(total so far {target.cases})")


# --------------------------------------------------------------------------- hostile material


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")


BAD_TIMES = [
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z", "9999-12-31",
    "0001-01-01", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59.999999Z", "", " ", "Z", "z", "T",
    "2024-13-01", "2024-02-30", "2024-01-01T25:00:00Z", "2024-01-01T00:00:00+24:00",
    "2024-01-01T00:00:00", "2024-01-01T00:00:00+23:59", "1e999", "NaN", "-1", "0",
    "99999999999999999999", "\uff12\uff10\uff12\uff14-01-01", "2024-01-01\x00", "2024-01-01T00:00:00Z" * 4,
    "+002024-01-01", "-2024-01-01", "2024-W01-1", "20240101T000000Z",
]
BAD_CURSORS = [
    b64("99999999999999999999:abc"), b64("-99999999999999999999:abc"), b64("9223372036854775808:ab"),
    b64("-9223372036854775809:ab"), b64("1:"), b64(":abc"), b64("1:xyz"), b64("1e5:ab"), b64("+1:ab"),
    b64("1_0:ab"), b64("\u0661:ab"), b64("NaN:ab"), b64("\ud800:ab"), b64("9" * 5000 + ":ab"),
    "abc", "===", "%%%", "-", "_" * 10_000, "\x00", b64("1:" + "a" * 10_000),
]
BAD_NUMBERS = ["-1", "0", "1001", "99999999999999999999", "-99999999999999999999", "1e3", "NaN", "inf",
               "-inf", "\u0661\u0660", "0x10", " 5", "5 ", "9" * 5000, "", "1.5", "\x00"]
ODD_TEXT = ["", " ", "\x00", "\x01\x02", "%", "../..", "\ufffd", "\u202e", "\U0001f600", "a" * 300,
            "x" * 8000, "${X}", "{id}", "<script>", "'\"", "null", "true", "[]", "{}"]
QUERY_NAMES = ["type", "since", "until", "limit", "cursor", "format", "source", "include_deleted", "state",
               "kind", "after", "code", "error", "return_to", "challenge", "verification_token", "verify",
               "hub.mode", "hub.challenge", "hub.verify_token"]
query_values = st.one_of(
    st.sampled_from(BAD_TIMES), st.sampled_from(BAD_CURSORS), st.sampled_from(BAD_NUMBERS),
    st.sampled_from(ODD_TEXT), st.text(max_size=30),
)
queries = st.lists(
    st.tuples(st.one_of(st.sampled_from(QUERY_NAMES), st.text(max_size=10)), query_values), max_size=6)


def nested(depth: int, kind: str, closed: bool) -> bytes:
    opening, leaf, closing = {
        "list": ("[", "1", "]"), "object": ('{"a":', "1", "}"),
        "code": ('{"code":', '"c"', "}"), "mixed": ('{"a":[', "1", "]}"),
    }[kind]
    return (opening * depth + (leaf + closing * depth if closed else "")).encode()


def deep_object(depth: int = 5000) -> bytes:
    return b'{"code": "c", "state": "s", "a": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


deep_json = st.builds(nested, st.sampled_from([65, 1000, 5000, 50_000]),
                      st.sampled_from(["list", "object", "code", "mixed"]), st.booleans())
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400", "-0.0e99999"]
HUGE = ["1" + "0" * 4000, "-" + "9" * 4000, "9" * 5000, "1e308", "-1e308", "5e-324", "1e-99999",
        "9223372036854775808", "-9223372036854775809", "18446744073709551616", "-0"]
FIELDS = ["code", "state", "since", "until", "resources", "return_to", "user_id", "id", "type", "trace_id",
          "event_type", "data_type", "object_id", "event_time"]


@st.composite
def json_objects(draw) -> bytes:
    """A JSON object over the fields the routes read, with hostile numbers, timestamps and text
    spliced in as raw JSON."""
    members = []
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=5, unique=True)):
        value = draw(st.one_of(
            st.sampled_from(NON_FINITE + HUGE),
            st.sampled_from(BAD_TIMES + ODD_TEXT[:12]).map(dumps),
            st.sampled_from(['"\\ud800"', '"\\udfff"', '"a\\ud83d"', '"\\ud83d\\ude00"', '"\\u0000"']),
            st.sampled_from(["[]", "{}", "null", "true", '["sleep"]', '["' + "x" * 100 + '"]', "[1, 2]"]),
            st.just(dumps(datetime.now(UTC).isoformat())),
        ))
        members.append(f'"{name}": {value}')
    return ("{" + ", ".join(members) + "}").encode()


def encoded(text: str, encoding: str) -> bytes:
    return {"utf-16": lambda: text.encode("utf-16"), "utf-16-le": lambda: text.encode("utf-16-le"),
            "utf-32": lambda: text.encode("utf-32"), "utf-8-bom": lambda: b"\xef\xbb\xbf" + text.encode(),
            "latin-1": lambda: text.encode("latin-1", "replace")}[encoding]()


odd_encodings = st.builds(
    encoded,
    st.sampled_from(['{"code": "c\u00e9", "state": "s\u00e9"}', '{"since": "2024-01-01T00:00:00Z"}',
                     '{"return_to": "https://app.example.com/\u00e9"}', '{"user_id": 10129, "type": "sleep.updated"}']),
    st.sampled_from(["utf-16", "utf-16-le", "utf-32", "utf-8-bom", "latin-1"]),
)
INVALID_UTF8 = [b"\xff", b"\xfe\xff", b'{"code": "\xff"}', b'{"a": "\xc0\xaf"}', b'{"a": "\xed\xa0\x80"}',
                b'{"a": "\xf4\x90\x80\x80"}', b"\x80" * 100, b'{"a": 1}\x00', b"\x00" * 10]
bodies = st.one_of(
    deep_json, json_objects(), deep_json, json_objects(), odd_encodings, st.sampled_from(INVALID_UTF8),
    st.sampled_from([b"", b" ", b"null", b"[]", b"1", b'"x"', b"{", b"{}" * 2, b"a=1&b=2", b"\n" * 100]),
    st.sampled_from([70_000, 300_000]).map(lambda n: b'{"a": "' + b"x" * n + b'"}'),
    st.binary(max_size=64),
)


def giant(value_size: int) -> dict[str, str]:
    return {"X-Request-Id": "r" * value_size}


HEADER_NAMES = ["X-Request-Id", "Authorization", "Content-Type", "Content-Length", "Cookie", "X-WHOOP-Signature",
                "X-WHOOP-Signature-Timestamp", "x-oura-signature", "x-oura-timestamp", "Accept", "Forwarded"]
header_values = st.one_of(
    st.sampled_from([b"", b" ", b"\x80\xff", b"\xc3\xa9", b"abc", b"-1", b"99999999999999999999", b"1e999",
                     b"NaN", b"Bearer ", b"Bearer " + b"k" * 100_000, b"r" * 100_000,
                     b"application/json; charset=utf-16", b"text/plain; charset=latin-1"]),
    st.binary(max_size=20).map(lambda raw: bytes(b for b in raw if b not in (0x0A, 0x0D, 0x00))),
)
header_sets = st.one_of(
    st.just([]),
    st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_values), max_size=4),
    st.sampled_from([200, 2000]).map(lambda n: [(f"x-h{i}", b"v" * 100) for i in range(n)]),
)

path_values = st.one_of(st.sampled_from(["u" * 300, "a\x01b", "\x00", " ", "%2F", "..", "\ufffd", "\U0001f600",
                                         "x" * 5000, "%", "nobody", "NaN", "-1", "99999999999999999999"]),
                        st.text(min_size=1, max_size=12))


@dataclass(frozen=True)
class Bundle:
    path_params: dict[str, str | None]  # None: a valid value
    query: list[tuple[str, str]]
    headers: list[tuple[str, bytes]]
    body: bytes
    signed: bool
    with_key: bool


# Mostly valid path parameters, so most requests reach the code that reads the body and query.
bundles = st.builds(
    Bundle,
    path_params=st.fixed_dictionaries({name: st.one_of(st.none(), st.none(), st.none(), path_values)
                                       for name in ("user_id", "vendor", "sync_id", "job_id")}),
    query=queries, headers=header_sets, body=bodies, signed=st.booleans(),
    with_key=st.sampled_from([True, True, True, False]),
)


def fill(template: str, bundle: Bundle, target: Target, vendor_default: str, method: str = "GET") -> tuple[str, str]:
    """The route's path with each parameter the bundle's hostile value (or a valid one). A
    DELETE goes to another user, so the connected user and its sync and jobs stay for the rest."""
    values = {"user_id": USER if method != "DELETE" else OTHER_USER, "vendor": vendor_default, **target.ids}
    values.update({name: given for name, given in bundle.path_params.items() if given is not None})
    path = template
    for name, value in values.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path, values["vendor"]


def signature_headers(target: Target, vendor: str, body: bytes) -> dict[str, str]:
    if vendor == "whoop":
        return whoop_headers(target.secrets["whoop"], body, int(target.engine.clock() * 1000))
    if vendor == "oura":
        return oura_headers(target.secrets["oura"], body, int(target.engine.clock()))
    return {}


def send_bundle(target: Target, bundle: Bundle, template: str, method: str, vendor_default: str) -> None:
    path, vendor = fill(template, bundle, target, vendor_default, method)
    headers: list[tuple[str, str | bytes]] = list(bundle.headers)
    if bundle.with_key and not any(name == "Authorization" for name, _ in headers):
        headers.append(("Authorization", AUTH["Authorization"]))
    body = bundle.body if method in ("POST", "PUT", "PATCH", "DELETE") else b""
    if bundle.signed and template.startswith("/v1/webhooks/"):
        headers.extend(signature_headers(target, vendor, body).items())
    target.send(method, path, route=(template, method), params=bundle.query, headers=headers, content=body)


# --------------------------------------------------------------------------- the sweep

# Bounded so the module runs in well under a minute (about 15 s locally, 35 s with the full CI
# counts); other settings follow the loaded profile.
SWEEP = settings(max_examples=examples(300), deadline=None, suppress_health_check=list(HealthCheck))
FOCUSED = settings(max_examples=examples(300), deadline=None, suppress_health_check=list(HealthCheck))


def test_the_sweep_covers_every_declared_route(target):
    templates = {template for template, _ in target.routes}
    assert {"/v1/oauth/{vendor}/callback", "/v1/webhooks/{vendor}", "/v1/users/{user_id}/samples",
            "/v1/users/{user_id}/connections/{vendor}/sync", "/v1/jobs/{job_id}/retry"} <= templates
    assert len(target.routes) >= 15, target.routes


REPORTED = [  # the reported attacks, always among the sweep's examples
    Bundle({}, [], [], deep_object(), False, True),
    Bundle({}, [("cursor", b64("99999999999999999999:abc"))], [], b"", False, True),
    Bundle({}, [("since", "0001-01-01T00:00:00+01:00")], [], b'{"since": "9999-12-31T23:59:59-01:00"}', True, True),
    Bundle({}, [], [], b'{"id": "x", "type": "sleep.updated", "trace_id": "t", "user_id": NaN}', True, True),
]


@SWEEP
@given(bundle=bundles, vendor=st.sampled_from(VENDORS))
@example(bundle=REPORTED[0], vendor="whoop")
@example(bundle=REPORTED[1], vendor="whoop")
@example(bundle=REPORTED[2], vendor="whoop")
@example(bundle=REPORTED[3], vendor="whoop")
def test_no_route_answers_5xx_to_hostile_input(target, bundle, vendor):
    for template, method in target.routes:
        send_bundle(target, bundle, template, method, vendor)


def test_every_route_takes_the_reported_attacks_at_once(target):
    before = target.cases
    attack = Bundle({}, [("cursor", BAD_CURSORS[0]), ("since", BAD_TIMES[0]), ("until", BAD_TIMES[1])], [],
                    deep_object(), True, True)
    for template, method in target.routes:
        send_bundle(target, attack, template, method, "whoop")
    assert set(target.seen) >= set(target.routes)
    report(target, "every route, every reported attack", before)


@FOCUSED
@given(body=bodies, vendor=st.sampled_from(["whoop", "oura"]))
def test_signed_webhook_deliveries_never_5xx(target, body, vendor):
    target.send("POST", f"/v1/webhooks/{vendor}", content=body, headers=signature_headers(target, vendor, body))


@FOCUSED
@given(value=st.one_of(st.sampled_from(BAD_TIMES), st.text(max_size=40)), name=st.sampled_from(["since", "until"]),
       cursor=st.one_of(st.none(), st.sampled_from(BAD_CURSORS), st.text(max_size=40)))
def test_bad_timestamps_and_cursors_never_5xx(target, value, name, cursor):
    params = {name: value} | ({"cursor": cursor} if cursor is not None else {})
    target.send("GET", f"/v1/users/{USER}/samples", params=params, headers=AUTH)
    body = {"since": datetime.now(UTC).isoformat(), name: value}
    target.send("POST", f"/v1/users/{USER}/connections/whoop/sync", json=body, headers=AUTH)


# --------------------------------------------------------------------------- the reported attacks


def test_deep_json_to_the_public_oauth_callback_is_400(target):
    before = target.cases
    for body in (deep_object(), nested(5000, "list", True), nested(5000, "code", False)):
        response = target.send("POST", "/v1/oauth/whoop/callback", content=body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_body"
    report(target, "deep JSON to the OAuth callback", before)


JSON_ROUTES = [
    "/v1/oauth/whoop/callback", f"/v1/users/{USER}/connections/whoop", f"/v1/users/{USER}/connections/whoop/sync",
]


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize("body", [
    deep_object(), deep_object(65),
    b'{"code": NaN, "state": "s"}', b'{"since": Infinity}', b'{"return_to": -Infinity}', b'{"since": 1e999}',
    b'{"code": "c", "state": "s", "n": -1e999}',
    b'{"code": "\\ud800", "state": "\\udfff"}', b'{"return_to": "https://app.example.com/\\ud800"}',
    b'{"since": "\\ud800"}',
])
def test_every_api_json_body_is_bounded(target, path, body):
    response = target.send("POST", path, content=body, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_body"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
@pytest.mark.parametrize("where", ["user_id", "extra"])
def test_non_finite_numbers_in_a_signed_webhook_are_400(target, number, where):
    fields = {"id": f"nf-{where}-{number}", "type": "sleep.updated", "trace_id": "t", "user_id": "10129"}
    text = dumps(fields)
    if where == "user_id":
        text = text.replace('"10129"', number)
    else:
        text = text[:-1] + f', "score": {number}}}'
    body = text.encode()
    response = target.send("POST", "/v1/webhooks/whoop", content=body, headers=signature_headers(target, "whoop", body))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_webhook"


def test_a_signed_webhook_with_an_unpaired_surrogate_is_400(target):
    body = b'{"id": "s-1", "type": "sleep.updated", "trace_id": "\\ud800", "user_id": 10129}'
    response = target.send("POST", "/v1/webhooks/whoop", content=body, headers=signature_headers(target, "whoop", body))
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("cursor", [b64("99999999999999999999:abc"), b64("-99999999999999999999:abc"),
                                    b64("9223372036854775808:ab"), b64("9" * 5000 + ":ab"), "_" * 10_000])
@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_out_of_range_cursors_are_the_invalid_cursor_400(target, cursor, fmt):
    response = target.send("GET", f"/v1/users/{USER}/samples", params={"cursor": cursor, "format": fmt}, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(("params", "code"), [({"cursor": "\u00b9"}, "invalid_cursor"),
                                              ({"limit": "\u0663"}, "invalid_query")])
def test_non_ascii_digits_in_the_changes_feed_query_are_400(target, params, code):
    response = target.send("GET", "/v1/changes", params=params, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("limit", ["\u0663", "+5", "1_0", " 5", "0", "1001", "9" * 40])
@pytest.mark.parametrize("path", ["/v1/changes", f"/v1/users/{USER}/samples"])
def test_a_limit_is_ascii_digits_from_1_to_the_page_maximum(target, path, limit):
    response = target.send("GET", path, params={"limit": limit}, headers=AUTH)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error == {**error, "code": "invalid_query", "message": "limit must be a whole number from 1 to 1000"}
    assert target.send("GET", path, params={"limit": "1000"}, headers=AUTH).status_code == 200


OVERFLOWING = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@pytest.mark.parametrize("value", [*OVERFLOWING, " ", "1969-12-31T23:59:59Z"])
@pytest.mark.parametrize("name", ["since", "until"])
def test_out_of_range_sample_timestamps_are_400_naming_the_field(target, value, name):
    response = target.send("GET", f"/v1/users/{USER}/samples", params={name: value}, headers=AUTH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_time" and error["message"].startswith(name)


@pytest.mark.parametrize("value", [*OVERFLOWING, " ", "1969-12-31T23:59:59Z"])
@pytest.mark.parametrize("name", ["since", "until"])
def test_out_of_range_sync_timestamps_are_400_naming_the_field(target, value, name):
    body = {"since": (datetime.now(UTC) - timedelta(days=1)).isoformat(), name: value}
    response = target.send("POST", f"/v1/users/{USER}/connections/whoop/sync", json=body, headers=AUTH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_time" and error["message"].startswith(name)


@pytest.mark.parametrize("request_", [
    ("POST", "/v1/webhooks/nobody", {}, b"{}"),
    ("GET", "/v1/webhooks/whoop", {}, b""),
    ("POST", "/v1/webhooks/whoop", {}, b'{"id": 1}'),
    ("POST", "/v1/webhooks/whoop", {"Content-Length": "abc"}, b"{}"),
    ("POST", "/v1/webhooks/whoop", {}, b"x" * 300_000),
    ("GET", "/v1/webhooks/oura", {"params": {"verification_token": "wrong", "challenge": "c"}}, b""),
    ("GET", "/v1/webhooks/oura", {"params": {"verification_token": "wrong", "challenge": "c" * 2000}}, b""),
], ids=["unknown-vendor", "no-handshake", "unsigned", "bad-content-length", "too-large", "wrong-token",
        "long-challenge"])
def test_webhook_errors_have_the_api_error_shape(target, request_):
    method, path, extra, body = request_
    params = extra.pop("params", None) if "params" in extra else None
    response = target.send(method, path, params=params, headers=extra, content=body)
    assert response.status_code >= 400
    error = response.json()["error"]
    assert set(error) == {"code", "message"} and error["code"] and error["message"]


def test_giant_headers_never_5xx(target):
    before = target.cases
    for template, method in target.routes:
        path, _ = fill(template, Bundle({}, [], [], b"", False, True), target, "whoop", method)
        for headers in (giant(1_000_000), {"Authorization": "Bearer " + "k" * 1_000_000},
                        {"Content-Length": "9" * 1000}, {"Content-Type": "application/json; charset=" + "x" * 10_000},
                        {f"x-h{i}": "v" for i in range(5000)}):
            target.send(method, path, headers=headers, content=b"{}" if method == "POST" else b"")
    report(target, "giant headers", before)


RAW_QUERIES = [
    "since=%ff%fe&until=%c0%af&cursor=%ed%a0%80", "cursor=%ff" * 50, "type=%00&limit=%ff&format=%fe",
    "state=%ff&code=%fe&error=%c3", "challenge=%ff&verification_token=%fe", "since=%FF%FE2%002%004",
    "%ff=%fe", "&&&==&", "since", "cursor=" + "%41" * 5000, "limit=%d9%a1",
]
RAW_PATH_VALUES = ["%ff", "%ed%a0%80", "%c0%af", "%00", "%fe%ff%00a", "%2e%2e"]


def test_odd_encodings_in_urls_never_5xx(target):
    """Percent escapes that are not UTF-8 (or are UTF-16 / Latin-1 bytes) in the path and the query."""
    before = target.cases
    for template, method in target.routes:
        for index, query in enumerate(RAW_QUERIES):
            path, _ = fill(template, Bundle({}, [], [], b"", False, True), target, "whoop", method)
            raw = RAW_PATH_VALUES[index % len(RAW_PATH_VALUES)]
            odd = template.replace("{user_id}", raw).replace("{sync_id}", raw).replace("{job_id}", raw)
            for url in (f"{path}?{query}", f"{fill_rest(odd, target, method)}?{query}"):
                target.send(method, url, route=(template, method), headers=AUTH,
                            content=b"{}" if method == "POST" else b"")
    report(target, "odd encodings in URLs", before)


def test_raw_bytes_in_the_request_line_and_headers_never_5xx(target):
    """What an ASGI server hands over as is: raw non-ASCII bytes in the query string and in
    header names and values (an in-process client would percent-encode or refuse them)."""
    before = target.cases
    queries = [b"since=\xff\xfe&cursor=\xc0\xaf", b"type=\x00\x01&limit=\xd9\xa1", b"\xff", b"state=\xe9&code=\xe9",
               b"challenge=\xff&verification_token=\xfe"]
    headers = [(b"x-request-id", b"\xff" * 100), (b"\xff\xfe", b"\x00\xff"), (b"content-type", b"\xfe\xff"),
               (b"content-length", b"\xff"), (b"authorization", AUTH["Authorization"].encode())]
    for template, method in target.routes:
        path, _ = fill(template, Bundle({}, [], [], b"", False, True), target, "whoop", method)
        for query in queries:
            status = target.runner.run(asgi_request(target.app, method, path, query, list(headers),
                                                    b'{"a": "\xe9"}')).status_code
            target.cases += 1
            target.seen.add((template, method))
            assert status < 500, (method, path, query, status)
    report(target, "raw bytes in the request", before)


async def asgi_request(app: Any, method: str, path: str, query: bytes,
                       headers: list[tuple[str, str | bytes]], body: bytes) -> Answer:
    """One request as an ASGI server hands it over: raw bytes, no client-side normalising (an
    in-process HTTP client would also spend seconds on a request with thousands of headers)."""
    raw = [(name.lower().encode("latin-1") if isinstance(name, str) else name,
            value.encode() if isinstance(value, str) else value) for name, value in headers]
    given = {name for name, _ in raw}
    raw += [(b"host", PUBLIC_URL.split("//", 1)[1].encode())] if b"host" not in given else []
    raw += [(b"content-length", str(len(body)).encode())] if body and b"content-length" not in given else []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": unquote(path), "raw_path": path.encode(), "query_string": query,
             "root_path": "", "headers": raw, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    sent: list[dict] = []
    delivered = False

    async def receive() -> dict:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return Answer(status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))


def fill_rest(template: str, target: Target, method: str) -> str:
    path, _ = fill(template, Bundle({}, [], [], b"", False, True), target, "whoop", method)
    return path


def test_the_last_resort_500_prints_no_traceback(target, capsys, caplog):
    async def broken(request):
        raise RuntimeError("kaboom-secret")

    app = create_app(target.engine, extra_protected_routes=[Route("/v1/broken", broken)])

    async def call() -> httpx2.Response:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
            return await client.get("/v1/broken", headers=AUTH)

    response = target.runner.run(call())
    out, err = capsys.readouterr()
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "an internal error occurred"}}
    assert "Traceback" not in out + err + caplog.text and "kaboom-secret" not in out + err + caplog.text



