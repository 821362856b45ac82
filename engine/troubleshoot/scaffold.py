"""The starting point `engine new VENDOR` writes: a commented spec and one example fixture.

The spec is valid as written (once its client id and secret are set in the environment), so a
vendor author changes one block at a time and re-runs `engine validate` after each change.
"""

from __future__ import annotations

SPEC_TEMPLATE = """\
# yaml-language-server: $schema={schema}
# {name}: one YAML file is the whole connector. Change one block at a time and run
#   engine validate {spec_path}
# after each change. Every block is described in docs/adding-a-vendor.md.
# Recorded vendor responses live in {id}/fixtures/ next to this file: <resource>.list.json,
# <resource>.get.json and webhook.<label>.json, each with the expected output that
# `engine test {spec_path}` compares (`engine test --update` records it).
spec_version: 1
id: {id}
name: {name}
docs_url: https://developer.example.com/docs   # where the vendor documents its API
# A vendor that shut its API down keeps its spec (it still validates) but is not offered for new
# connections, and existing ones are reported:
# status: retired
# retired: {{support_ended: "2026-09-30", turned_off: "2026-11-02", successor: other_vendor}}

# Where the user's time zone comes from, for times the vendor sends without an offset (`local:
# true` below); the first source that answers wins (a field of the identity call, of a profile
# call with `request:`, an offset some records carry, or the zone the app passes at connect):
# time_zone:
#   - {{from: identity, path: time_zone, format: iana}}
#   - {{from: app}}

api:
  # ${{VAR:-default}} lets tests and local runs point the shipped spec elsewhere.
  base_url: "${{{env}_API_BASE:-https://api.example.com}}"
  timeout_s: 30
  # Headers every API call carries, e.g. a subscription key from the environment:
  # headers: {{Ocp-Apim-Subscription-Key: "${{{env}_SUBSCRIPTION_KEY}}"}}

auth:
  type: oauth2
  authorize_url: "${{{env}_API_BASE:-https://api.example.com}}/oauth/authorize"
  token_url: "${{{env}_API_BASE:-https://api.example.com}}/oauth/token"
  # Secrets always come from the environment, never from the spec.
  client_id: "${{{env}_CLIENT_ID}}"
  client_secret: "${{{env}_CLIENT_SECRET}}"
  # Ask for every scope the resources below need (and the one that grants a refresh token).
  scopes: [offline, sleep]
  scope_separator: space             # space | comma | none
  pkce: false                        # required | optional | false
  client_auth: client_secret_post    # or client_secret_basic (HTTP Basic at the token endpoint)
  # A refresh call that must send `Authorization: Bearer <refresh token>`:
  # `refresh_token_in: authorization_header` (with client_secret_post); refreshes at another
  # URL than token_url: `refresh_url: ...`.
  # The vendor's id for the account: webhooks name users by it. A vendor that names the user
  # only inside its JWT access token: `identity: {{claims: access_token, user_id: sub}}`.
  identity:
    request: {{path: /v1/me}}
    user_id: id
  revoke: {{method: POST, path: /oauth/revoke, auth: basic, form: {{token: "{{access_token}}"}}}}

limits:
  # Budgets are shared by every engine process on the same store.
  budgets:
    - {{per: app, requests: 100, window: 1m}}  # counted: fixed, if the vendor counts from :00
  retry: {{statuses: [429, 500, 502, 503, 504], max_attempts: 5, base_s: 1, cap_s: 60}}
  headers: {{retry_after: Retry-After}}

webhooks:
  body: json
  # How the vendor signs deliveries; `engine sign` and `engine verify` read this block. A key
  # only the vendor and the engine know makes deliveries authenticated; a vendor that signs
  # nothing (`type: none`) or sends a public value (a client id) may only trigger reads, and its
  # delete/disconnect/ingest routes need a `confirm` step (e.g. `confirm: reread`).
  verify:
    type: hmac
    algorithm: sha256
    key: "{{env:{env}_WEBHOOK_SECRET}}"
    message: "{{header:X-Signature-Timestamp}}.{{body}}"
    signature: {{header: X-Signature, encoding: hex}}
    timestamp: {{header: X-Signature-Timestamp, unit: s, tolerance_s: 300}}
    # A vendor that signs with a private key: `type: signature` with `algorithm:
    # ecdsa_p256_sha256 | ed25519 | rsa_pkcs1_sha256` and `public_key: "{{env:NAME}}"`.
    # A shared secret inside the body: `type: body_equals`, `field: webhook_token`,
    # `value: "{{env:{env}_WEBHOOK_TOKEN}}"`.
  # The answer the vendor expects (default: 200 with a JSON summary; refusals in the API's
  # error shape), e.g. `ack: {{accepted: {{status: 204}}, refused: {{status: 404}}}}`.
  # JMESPath into each delivery: its id (dedupe), the vendor user, the event type, the object.
  events: {{id: event_id, user: user_id, type: type, object_id: object_id}}
  "on":
    sleep.created: {{fetch: sleep}}
    sleep.updated: {{fetch: sleep}}
    sleep.deleted: {{delete: sleep}}

sync:
  initial_days: 30                   # backfilled when a user connects

# What many blocks share is written once: every sample mapping below takes these (its own value
# wins; `key: null` drops one). A sample that explodes an array (`each:`) reads the record as
# `record.` and takes `each_samples:` instead. Lists, gets and webhook events take defaults too;
# see docs/patterns.md, "Shared values".
defaults:
  samples:
    record_id: id                    # the dedup key: a re-fetch replaces, never duplicates
    tz_offset: timezone_offset
    updated_at: updated_at           # the newest vendor version wins

resources:
  sleep:
    list:
      request: {{path: /v1/sleep, params: {{start: "{{window.start}}", end: "{{window.end}}"}}}}
      records: data
      paginate: {{type: cursor, next: next_cursor, param: cursor}}
      # A list filtered on local (civil) times: a strftime format and `local: true`, bounds
      # then written on the user's clock (needs `time_zone`).
      window: {{max: 30d, format: iso}}
    get: {{request: {{path: "/v1/sleep/{{id}}"}}}}
    samples:
      - type: sleep_session
        start: start_time
        # A time without an offset says what it is: `{{path: start_time, local: true}}` (the user's
        # wall clock, converted with `time_zone` above) or `{{path: start_time, utc: true}}`.
        # When the vendor's id changes with the record's content (e.g. it encodes the duration),
        # identify the record by chosen fields instead of `record_id`; the latest write wins:
        # record_id: null
        # identity: {{fields: [start_time]}}
        end: end_time
        values:
          # Every value names its unit; the engine converts to the sample's canonical unit.
          asleep_s: {{path: total_sleep_minutes, unit: min}}
          deep_s: {{path: stages.deep_minutes, unit: min}}
          rem_s: {{path: stages.rem_minutes, unit: min}}
          efficiency_pct: {{path: efficiency, unit: fraction}}
"""

EXAMPLE_PAGE = """\
{
  "data": [
    {
      "id": "sleep-1",
      "start_time": "2026-03-01T22:40:00+01:00",
      "end_time": "2026-03-02T06:55:00+01:00",
      "timezone_offset": "+01:00",
      "updated_at": "2026-03-02T07:10:00Z",
      "total_sleep_minutes": 452,
      "stages": {"deep_minutes": 81, "rem_minutes": 104},
      "efficiency": 0.91
    }
  ],
  "next_cursor": null
}
"""

EXAMPLE_EVENTS = """\
[
  {"event_id": "evt-1", "user_id": "vendor-user-1", "type": "sleep.created", "object_id": "sleep-1"},
  {"event_id": "evt-2", "user_id": "vendor-user-1", "type": "sleep.updated", "object_id": "sleep-1"},
  {"event_id": "evt-3", "user_id": "vendor-user-1", "type": "sleep.deleted", "object_id": "sleep-1"}
]
"""
