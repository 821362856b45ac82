"""`defaults:` blocks: merge semantics, positions of merged values, errors inside defaults."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from engine.spec.catalogue import load_json_schema
from engine.spec.defaults import RESOURCE_DEFAULT_KEYS, SPEC_DEFAULT_KEYS, apply_defaults
from engine.spec.document import parse_document
from engine.spec.validate import SPEC_SCHEMA, check_document, check_file
from tests.spec.helpers import run_cli, run_validate_json

HEAD = """\
spec_version: 1
id: acme
name: Acme
api: {base_url: "https://api.acme.example"}
auth:
  type: oauth2
  authorize_url: https://api.acme.example/oauth/authorize
  token_url: https://api.acme.example/oauth/token
  client_id: "${ACME_CLIENT_ID}"
  client_secret: "${ACME_CLIENT_SECRET}"
"""
ENV = {"ACME_CLIENT_ID": "id", "ACME_CLIENT_SECRET": "secret"}


def spec(body: str) -> str:
    return HEAD + textwrap.dedent(body)


def merged(body: str) -> dict:
    result = apply_defaults(parse_document(spec(body), "acme.yaml"))
    assert result.document is not None, result.issues
    assert result.issues == []
    return result.document.data


def check(body: str):
    return check_document(parse_document(spec(body), "acme.yaml"), env=ENV)


def line_of(body: str, text: str, nth: int = 1) -> tuple[int, int]:
    """1-based line and column of the `nth` occurrence of `text` in the whole spec."""
    lines = spec(body).splitlines()
    seen = 0
    for number, line in enumerate(lines, 1):
        if text in line:
            seen += 1
            if seen == nth:
                return number, line.index(text) + 1
    raise AssertionError(f"{text!r} not in the spec")


# --- merge semantics ---------------------------------------------------------------------------

TWO_RESOURCES = """\
defaults:
  list:
    request:
      params: {start: "{window.start}", end: "{window.end}", limit: 25}
      ok_statuses: [200]
    records: data
    window: {max: 30d, format: iso}
  get: {request: {path: "/v1/things/{id}"}}
  samples:
    record_id: id
    start: start_time
    end: end_time
    meta: {source: device_source}
resources:
  sleep:
    list:
      request: {path: /v1/sleep, params: {limit: 50, tz: utc}, ok_statuses: [200, 204]}
      window: {max: 7d}
    get: {}
    samples:
      - type: sleep_session
        values: {asleep_s: {path: minutes, unit: min}}
        meta: {night: night_of}
  heart_rate:
    list:
      request: {path: /v1/hr}
      records: items
    samples:
      - type: heart_rate
        timestamp: time
        start: null
        end: null
        values: {bpm: {path: bpm, unit: bpm}}
"""


def test_mappings_merge_recursively_and_the_block_wins():
    data = merged(TWO_RESOURCES)
    sleep_list = data["resources"]["sleep"]["list"]
    assert sleep_list["request"] == {
        "path": "/v1/sleep",
        "params": {"start": "{window.start}", "end": "{window.end}", "limit": 50, "tz": "utc"},
        "ok_statuses": [200, 204],  # lists are replaced whole, not concatenated
    }
    # the defaults' keys in their order (the block's value winning), then the block's own keys
    assert list(sleep_list["request"]["params"]) == ["start", "end", "limit", "tz"]
    assert sleep_list["window"] == {"max": "7d", "format": "iso"}
    assert sleep_list["records"] == "data"
    hr_list = data["resources"]["heart_rate"]["list"]
    assert hr_list["records"] == "items"  # a scalar replaces the default
    assert hr_list["request"]["params"] == {
        "start": "{window.start}", "end": "{window.end}", "limit": 25}


def test_defaults_fill_only_blocks_a_resource_writes():
    data = merged(TWO_RESOURCES)
    assert data["resources"]["sleep"]["get"] == {"request": {"path": "/v1/things/{id}"}}
    assert "get" not in data["resources"]["heart_rate"]
    assert "defaults" not in data
    assert all("defaults" not in r for r in data["resources"].values())


def test_samples_take_defaults_and_null_removes_one():
    data = merged(TWO_RESOURCES)
    session = data["resources"]["sleep"]["samples"][0]
    assert session == {
        "type": "sleep_session",
        "values": {"asleep_s": {"path": "minutes", "unit": "min"}},
        "meta": {"night": "night_of", "source": "device_source"},
        "record_id": "id", "start": "start_time", "end": "end_time",
    }
    instant = data["resources"]["heart_rate"]["samples"][0]
    assert "start" not in instant and "end" not in instant  # an instant drops the window
    assert instant["timestamp"] == "time" and instant["record_id"] == "id"


def test_a_null_with_no_default_under_it_stays_as_written():
    body = """\
    defaults:
      samples: {record_id: id}
    resources:
      hr:
        list: {request: {path: /v1/hr}, records: data}
        samples:
          - {type: heart_rate, timestamp: time, device: null, values: {bpm: {path: bpm, unit: bpm}}}
    """
    assert merged(body)["resources"]["hr"]["samples"][0]["device"] is None
    report = check(body)
    assert [(i.code, i.json_path) for i in report.issues] == [
        ("schema.type", ("resources", "hr", "samples", 0, "device"))]


def test_resource_defaults_go_over_spec_defaults():
    body = """\
    defaults:
      samples:
        record_id: id
        tz_offset: {path: offset, format: minutes}
        local_date: day
    resources:
      hr:
        list: {request: {path: /v1/hr}, records: data}
        defaults:
          samples:
            record_id: hr_id
            tz_offset: {path: zone_offset}
            local_date: null
        samples:
          - {type: heart_rate, timestamp: time, values: {bpm: {path: bpm, unit: bpm}}}
      weight:
        list: {request: {path: /v1/weight}, records: data}
        samples:
          - {type: weight, timestamp: time, values: {kg: {path: kg, unit: kg}}}
    """
    data = merged(body)
    hr = data["resources"]["hr"]["samples"][0]
    assert hr["record_id"] == "hr_id"
    assert hr["tz_offset"] == {"path": "zone_offset", "format": "minutes"}
    assert "local_date" not in hr
    weight = data["resources"]["weight"]["samples"][0]
    assert (weight["record_id"], weight["local_date"]) == ("id", "day")


EXPLODED = """\
defaults:
  samples:
    record_id: id
    local_date: day
  each_samples:
    record_id: record.id
    tz_offset: {path: record.offset, format: minutes}
resources:
  sleep:
    list: {request: {path: /v1/sleep}, records: data}
    defaults:
      each_samples:
        start: item.start
        tz_offset: {path: record.zone_offset}
    samples:
      - {type: sleep_session, start: start, end: end, values: {asleep_s: {path: s, unit: s}}}
      - {type: sleep_stage, each: stages, end: item.end, values: {stage: item.stage}}
  hr:
    list: {request: {path: /v1/hr}, records: data}
    samples:
      - {type: heart_rate, each: items, timestamp: item.time, values: {bpm: {path: item.bpm, unit: bpm}}}
"""


def test_samples_that_explode_an_array_take_each_samples_instead_of_samples():
    resources = merged(EXPLODED)["resources"]
    session, stage = resources["sleep"]["samples"]
    assert session == {"record_id": "id", "local_date": "day", "type": "sleep_session",
                       "start": "start", "end": "end", "values": {"asleep_s": {"path": "s", "unit": "s"}}}
    # the spec's each_samples, then the resource's over them; none of the record's `samples`
    assert stage == {"record_id": "record.id", "tz_offset": {"path": "record.zone_offset", "format": "minutes"},
                     "start": "item.start", "type": "sleep_stage", "each": "stages", "end": "item.end",
                     "values": {"stage": "item.stage"}}
    (series,) = resources["hr"]["samples"]
    assert series["record_id"] == "record.id" and "local_date" not in series
    assert series["tz_offset"] == {"path": "record.offset", "format": "minutes"}
    assert check(EXPLODED).issues == []


def test_an_invalid_value_in_each_samples_is_reported_once_at_its_line():
    body = EXPLODED.replace("format: minutes", "format: weeks")
    (issue,) = check(body).issues  # two samples take it
    assert issue.json_path == ("defaults", "each_samples", "tz_offset", "format")
    assert (issue.line, issue.col) == line_of(body, "weeks")


def test_each_samples_that_no_sample_takes_are_an_error():
    body = """\
    defaults:
      each_samples: {record_id: record.id}
    resources:
      sleep:
        list: {request: {path: /v1/sleep}, records: data}
        defaults:
          each_samples: {device: record.device}
        samples:
          - {type: sleep_session, start: start, end: end, values: {asleep_s: {path: s, unit: s}}}
    """
    issues = check(body).issues
    assert [(i.code, i.json_path) for i in issues] == [
        ("defaults.unused", ("defaults", "each_samples")),
        ("defaults.unused", ("resources", "sleep", "defaults", "each_samples")),
    ]
    assert all("with `each:`" in i.message for i in issues)
    assert (issues[0].line, issues[0].col) == line_of(body, "each_samples:")


def test_a_null_left_on_an_each_sample_to_drop_a_record_default_is_an_error_at_its_line():
    # Before each_samples, an exploded sample undid the record-level `local_date` with a null;
    # it takes no such default now, so the null stays as written and the schema names its line.
    body = EXPLODED.replace("each: stages, end", "each: stages, local_date: null, end")
    (issue,) = check(body).issues
    assert issue.code == "schema.type"
    assert issue.json_path == ("resources", "sleep", "samples", 1, "local_date")
    assert (issue.line, issue.col) == line_of(body, "null")


def test_each_null_is_a_plain_sample_and_says_so():
    # `each: null` explodes nothing: the sample takes `samples`, not `each_samples`, and both the
    # null and the resource's each_samples it leaves unused are reported at their lines.
    body = EXPLODED.replace("each: stages, end", "each: null, end")
    issues = {(i.code, i.json_path): (i.line, i.col) for i in check(body).issues}
    assert issues == {
        ("schema.type", ("resources", "sleep", "samples", 1, "each")): line_of(body, "null"),
        ("defaults.unused", ("resources", "sleep", "defaults", "each_samples")):
            line_of(body, "each_samples:", 2),
    }


def test_events_defaults_reach_every_extractor():
    body = """\
    defaults:
      events: {id: event_id, user: user_id, data: "@"}
    webhooks:
      verify: {type: hmac, algorithm: sha256, key: "{client_secret}", message: "{body}",
               signature: {header: X-Sig, encoding: hex}}
      events:
        - {select: sleeps, type: "'sleep'"}
        - {select: goodbyes, type: "'bye'", id: null, data: null}
      "on": {sleep: {ignore: true}, bye: {ignore: true}}
    """
    events = merged(body)["webhooks"]["events"]
    assert events == [
        {"select": "sleeps", "type": "'sleep'", "id": "event_id", "user": "user_id", "data": "@"},
        {"select": "goodbyes", "type": "'bye'", "user": "user_id"},
    ]
    single = body.replace("""\
      events:
        - {select: sleeps, type: "'sleep'"}
        - {select: goodbyes, type: "'bye'", id: null, data: null}
""", """\
      events: {type: kind}
""")
    assert merged(single)["webhooks"]["events"] == {
        "type": "kind", "id": "event_id", "user": "user_id", "data": "@"}
    assert check(single).ok


def test_subscription_defaults_reach_every_request_of_their_list():
    body = """\
    defaults:
      subscriptions:
        subscribe:
          method: POST
          path: /notify
          params: {action: subscribe, callbackurl: "{webhook_url}"}
        unsubscribe: {method: POST, path: /notify, params: {action: revoke}}
    subscriptions:
      per_user:
        subscribe:
          - {params: {appli: 1}}
          - {params: {appli: 2}, ok_statuses: [200, 409]}
        unsubscribe:
          - {params: {appli: 1, callbackurl: "{webhook_url}"}}
    resources: {}
    """
    per_user = merged(body)["subscriptions"]["per_user"]
    assert per_user["subscribe"][1] == {
        "method": "POST", "path": "/notify", "ok_statuses": [200, 409],
        "params": {"action": "subscribe", "callbackurl": "{webhook_url}", "appli": 2}}
    assert list(per_user["unsubscribe"][0]["params"]) == ["action", "appli", "callbackurl"]
    assert check(body).ok

    unused = body.replace("unsubscribe:\n", "other:\n")  # the list, not the default
    issues = check(unused).issues
    assert ("defaults.unused", ("defaults", "subscriptions", "unsubscribe")) in [
        (i.code, i.json_path) for i in issues]
    misspelt = body.replace("unsubscribe: {method", "unsubscibe: {method")
    (issue,) = check(misspelt).issues
    assert (issue.code, issue.suggestion) == ("defaults.unknown_key", "unsubscribe")
    assert (issue.line, issue.col) == line_of(misspelt, "unsubscibe:")


def test_a_spec_without_defaults_is_left_as_it_is():
    doc = parse_document(spec("resources: {}\n"), "acme.yaml")
    result = apply_defaults(doc)
    assert result.document is doc and result.issues == [] and result.origins == {}


def test_the_merged_spec_compiles_as_if_written_out(tmp_path: Path):
    written_out = """\
    resources:
      sleep:
        list:
          request: {path: /v1/sleep, params: {start: "{window.start}", end: "{window.end}"}}
          records: data
          window: {max: 30d, format: iso}
        samples:
          - {type: sleep_session, record_id: id, start: s, end: e,
             values: {asleep_s: {path: minutes, unit: min}}}
          - {type: heart_rate, record_id: id, timestamp: t, values: {bpm: {path: bpm, unit: bpm}}}
    """
    with_defaults = """\
    defaults:
      list:
        request: {params: {start: "{window.start}", end: "{window.end}"}}
        records: data
        window: {max: 30d, format: iso}
      samples: {record_id: id, start: s, end: e}
    resources:
      sleep:
        list: {request: {path: /v1/sleep}}
        samples:
          - {type: sleep_session, values: {asleep_s: {path: minutes, unit: min}}}
          - {type: heart_rate, timestamp: t, start: null, end: null,
             values: {bpm: {path: bpm, unit: bpm}}}
    """
    plain, short = check(written_out), check(with_defaults)
    assert plain.ok and short.ok, (plain.issues, short.issues)
    assert repr(plain.spec) == repr(short.spec)


# --- positions ---------------------------------------------------------------------------------

POSITIONS = """\
defaults:
  samples:
    record_id: "id ||"
    tz_offset: {path: offset, format: weeks}
resources:
  sleep:
    list: {request: {path: /v1/sleep}, records: data}
    samples:
      - type: sleep_session
        start: s
        end: e
        values: {asleep_s: {path: minutes, unit: min}}
      - type: heart_rate
        timestamp: t
        device: 42
        values: {bpm: {path: bpm, unit: bpm}}
"""


def test_an_invalid_value_set_in_defaults_is_reported_once_at_the_defaults_line():
    report = check(POSITIONS)
    by_code = {}
    for issue in report.issues:
        by_code.setdefault(issue.code, []).append(issue)
    (enum,) = by_code["schema.enum"]  # two samples take it, one error
    assert enum.json_path == ("defaults", "samples", "tz_offset", "format")
    assert (enum.line, enum.col) == line_of(POSITIONS, "weeks")


def test_an_invalid_value_set_on_the_sample_is_reported_at_its_own_line():
    (device,) = [i for i in check(POSITIONS).issues if i.code == "schema.type"]
    assert device.json_path == ("resources", "sleep", "samples", 1, "device")
    assert (device.line, device.col) == line_of(POSITIONS, "42")


def test_a_compile_error_in_a_default_is_located_at_the_default():
    body = POSITIONS.replace("format: weeks", "format: minutes").replace("device: 42", "device: d")
    report = check(body)
    assert [(i.code, i.json_path) for i in report.issues] == [
        ("expr.invalid", ("defaults", "samples", "record_id"))]
    assert (report.issues[0].line, report.issues[0].col) == line_of(body, '"id ||"')


def test_a_default_that_does_not_fit_one_taker_is_reported_at_the_default():
    body = TWO_RESOURCES.replace("meta: {source: device_source}",
                                 "values: {context: {const: all_day}}")
    (issue,) = check(body).issues  # heart_rate has a context field, sleep_session has none
    assert issue.code == "sample.unknown_field" and "sleep_session" in issue.message
    assert issue.json_path == ("defaults", "samples", "values", "context")
    assert (issue.line, issue.col) == line_of(body, "{const: all_day}")


def test_a_default_passed_through_resource_defaults_keeps_its_spec_level_line():
    body = """\
    defaults:
      samples:
        tz_offset: {path: offset, format: weeks}
    resources:
      sleep:
        list: {request: {path: /v1/sleep}, records: data}
        defaults:
          samples: {record_id: id}
        samples:
          - {type: heart_rate, timestamp: t, values: {bpm: {path: bpm, unit: bpm}}}
    """
    (issue,) = check(body).issues
    assert issue.json_path == ("defaults", "samples", "tz_offset", "format")
    assert (issue.line, issue.col) == line_of(body, "weeks")


def test_a_missing_key_is_reported_at_the_block_not_at_the_defaults():
    body = """\
    defaults:
      list: {records: data}
    resources:
      sleep:
        list: {window: {max: 1d}}
        samples:
          - {type: heart_rate, timestamp: t, values: {bpm: {path: bpm, unit: bpm}}}
    """
    (issue,) = check(body).issues
    assert issue.code == "schema.missing_key" and "'request'" in issue.message
    assert issue.json_path == ("resources", "sleep", "list")
    assert (issue.line, issue.col) == line_of(body, "list:", nth=2)


def test_an_unset_variable_in_a_default_is_reported_once_at_its_line():
    body = """\
    defaults:
      list:
        request: {headers: {X-Key: "${ACME_LIST_KEY}"}}
        records: data
    resources:
      a: {list: {request: {path: /v1/a}}}
      b: {list: {request: {path: /v1/b}}}
    """
    report = check_document(parse_document(spec(body), "acme.yaml"), env=ENV, check_env=True)
    (issue,) = report.issues
    assert issue.code == "env.unset"
    assert issue.json_path == ("defaults", "list", "request", "headers", "X-Key")
    assert (issue.line, issue.col) == line_of(body, '"${ACME_LIST_KEY}"')


# --- errors in the defaults blocks themselves --------------------------------------------------


def test_unknown_key_in_defaults_is_located_with_the_closest_key():
    body = """\
    defaults:
      list: {records: data}
      sample: {record_id: id}
    resources:
      sleep:
        list: {request: {path: /v1/sleep}}
    """
    (issue,) = check(body).issues
    assert issue.code == "defaults.unknown_key" and issue.suggestion == "samples"
    assert issue.json_path == ("defaults", "sample")
    assert (issue.line, issue.col) == line_of(body, "sample:")


def test_unknown_key_in_resource_defaults_says_what_goes_where():
    body = """\
    resources:
      sleep:
        list: {request: {path: /v1/sleep}, records: data}
        defaults:
          list: {records: data}
          flavour: {}
    """
    issues = check(body).issues
    assert [(i.code, i.json_path[-1]) for i in issues] == [
        ("defaults.unknown_key", "list"), ("defaults.unknown_key", "flavour")]
    assert "top-level defaults" in issues[0].message
    assert "expected samples" in issues[1].message
    assert (issues[1].line, issues[1].col) == line_of(body, "flavour:")


@pytest.mark.parametrize("value", ["[record_id]", "x", "null"])
def test_a_defaults_block_that_is_not_a_mapping_is_an_error(value):
    body = f"""\
    defaults:
      samples: {value}
    resources: {{}}
    """
    (issue,) = check(body).issues
    assert issue.code == "defaults.type" and issue.json_path == ("defaults", "samples")
    assert issue.line == line_of(body, "samples:")[0]


def test_a_default_no_block_takes_is_an_error():
    body = """\
    defaults:
      get: {request: {path: "/v1/x/{id}"}}
      samples: {record_id: id}
    resources:
      sleep:
        list: {request: {path: /v1/sleep}, records: data}
        defaults:
          samples: {device: d}
    """
    issues = check(body).issues
    assert [(i.code, i.json_path) for i in issues] == [
        ("defaults.unused", ("defaults", "get")),
        ("defaults.unused", ("defaults", "samples")),
        ("defaults.unused", ("resources", "sleep", "defaults", "samples")),
    ]
    assert "get: {}" in issues[0].message
    assert (issues[0].line, issues[0].col) == line_of(body, "get:")


def test_defaults_cannot_blow_the_spec_up():
    """A few defaults taken by many blocks: the merged document is held to the reader's cap."""
    meta = ", ".join(f"k{i}: v{i}" for i in range(1000))
    sample = "      - {{type: heart_rate, timestamp: t{}, values: {{bpm: {{path: b, unit: bpm}}}}}}"
    sample += "\n"
    samples = "".join(sample.format(i) for i in range(300))
    body = f"defaults:\n  samples:\n    meta: {{{meta}}}\nresources:\n  hr:\n" \
           f"    list: {{request: {{path: /v1/hr}}, records: data}}\n    samples:\n{samples}"
    started = time.monotonic()
    (issue,) = check(body).issues
    assert time.monotonic() - started < 10
    assert issue.code == "defaults.too_large" and issue.json_path == ("defaults",)
    assert (issue.line, issue.col) == line_of(body, "defaults:")


# --- the schema and the command line -----------------------------------------------------------


def test_the_schema_describes_the_same_defaults_keys():
    schema = load_json_schema(SPEC_SCHEMA)
    assert tuple(schema["$defs"]["defaults"]["properties"]) == SPEC_DEFAULT_KEYS
    assert tuple(schema["$defs"]["resource_defaults"]["properties"]) == RESOURCE_DEFAULT_KEYS
    assert schema["properties"]["defaults"] == {"$ref": "#/$defs/defaults"}
    resource = schema["$defs"]["resource"]["properties"]
    assert resource["defaults"] == {"$ref": "#/$defs/resource_defaults"}


def test_sample_defaults_accept_what_a_sample_accepts_but_each_and_nothing_is_required():
    defs = load_json_schema(SPEC_SCHEMA)["$defs"]
    sample, defaults = defs["sample"], defs["sample_defaults"]
    assert "required" not in defaults
    assert defaults["properties"] == {key: value for key, value in sample["properties"].items()
                                      if key != "each"}
    assert {key: defaults[key] for key in ("type", "additionalProperties")} == {
        key: sample[key] for key in ("type", "additionalProperties")}


def test_validate_exit_codes_are_unchanged(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("ACME_CLIENT_ID", "id")
    monkeypatch.setenv("ACME_CLIENT_SECRET", "secret")
    good = tmp_path / "good.yaml"
    good.write_text(spec(TWO_RESOURCES))
    assert check_file(good).ok
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec(POSITIONS))
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(spec("defaults: {samplez: {}}\nresources: {}\n"))

    assert run_cli(capsys, "validate", str(good))[0] == 0
    status, issues = run_validate_json(capsys, str(bad))
    assert status == 1 and {i["code"] for i in issues} == {"schema.enum", "schema.type"}
    status, out, _ = run_cli(capsys, "validate", str(unknown))
    assert status == 1
    assert out.startswith(f"{unknown}:11:12: error: $.defaults.samplez: unknown key 'samplez'")
    assert run_cli(capsys, "validate", str(tmp_path / "missing.yaml"))[0] == 2
