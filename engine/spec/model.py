"""The compiled vendor spec: frozen dataclasses the runtime reads (never the raw YAML).

Every JMESPath expression is an ``Expr`` and every string template a ``Template``, both compiled
once when the spec is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from engine.spec.expr import Expr
from engine.spec.template import Template

JsonTemplate = Any  # a JSON value whose strings are Templates
TzFormat = Literal["offset", "seconds", "minutes", "milliseconds", "iana"]


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: Template | None
    url: Template | None
    params: tuple[tuple[str, Template], ...] = ()
    headers: tuple[tuple[str, Template], ...] = ()
    json: JsonTemplate = None
    form: tuple[tuple[str, Template], ...] | None = None
    auth: Literal["bearer", "basic", "none"] = "bearer"
    ok_statuses: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Api:
    base_url: str
    hosts: frozenset[str]
    headers: tuple[tuple[str, Template], ...] = ()
    timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class NamedError:
    """A vendor answer that means one clear thing (e.g. the app is at its user capacity)."""

    code: str
    message: str
    status: int | None = None
    when: Expr | None = None


@dataclass(frozen=True, slots=True)
class TokenResponse:
    root: Expr | None = None
    success_when: Expr | None = None
    error_message: Expr | None = None
    invalid_grant_when: Expr | None = None
    access_token: Expr = field(default_factory=lambda: Expr("access_token"))
    refresh_token: Expr = field(default_factory=lambda: Expr("refresh_token"))
    expires_in: Expr = field(default_factory=lambda: Expr("expires_in"))
    expires_at: Expr | None = None
    scope: Expr = field(default_factory=lambda: Expr("scope"))
    user_id: Expr | None = None
    default_expires_in: int | None = None
    errors: tuple[NamedError, ...] = ()


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: Expr
    request: Request | None = None  # None: read user_id from the token response
    # "access_token": read user_id from the claims of the access token (a JWT), not a response
    claims: Literal["access_token"] | None = None


@dataclass(frozen=True, slots=True)
class Auth:
    authorize_url: str
    token_url: str
    client_id: str  # "" when the environment does not provide it
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]
    scope_separator: Literal["space", "comma", "none"]
    pkce: Literal["required", "optional", False]
    client_auth: Literal["client_secret_post", "client_secret_basic"]
    authorize_params: tuple[tuple[str, Template], ...]
    token_params: tuple[tuple[str, Template], ...]
    refresh_params: tuple[tuple[str, Template], ...]
    token_response: TokenResponse
    identity: Identity | None
    revoke: Request | None
    post_auth: tuple[Request, ...]
    on_disconnect: tuple[Request, ...]
    type: Literal["oauth2", "ingest_token"] = "oauth2"  # ingest_token: the engine issues the credential
    min_state_length: int = 32
    # Where a refresh call carries the refresh token: the form body (RFC 6749) or
    # `Authorization: Bearer <refresh token>`.
    refresh_token_in: Literal["body", "authorization_header"] = "body"
    refresh_url: str | None = None  # None: refresh calls go to token_url

    @property
    def configured(self) -> bool:
        return self.type == "ingest_token" or bool(self.client_id and self.client_secret)


@dataclass(frozen=True, slots=True)
class Budget:
    per: Literal["app", "user"]
    requests: int
    window_s: int
    # sliding: the vendor may count any window_s-long stretch; fixed: it counts in windows that
    # start at multiples of window_s since the epoch (the minute at :00, the day at 00:00 UTC)
    counted: Literal["sliding", "fixed"] = "sliding"


@dataclass(frozen=True, slots=True)
class Retry:
    statuses: tuple[int, ...] = (429, 500, 502, 503, 504)
    max_attempts: int = 5
    base_s: float = 1.0
    cap_s: float = 60.0


@dataclass(frozen=True, slots=True)
class RateHeaders:
    retry_after: str | None = "Retry-After"
    remaining: str | None = None
    reset: str | None = None
    reset_unit: Literal["seconds", "epoch_s", "epoch_ms"] = "seconds"


@dataclass(frozen=True, slots=True)
class Limits:
    budgets: tuple[Budget, ...] = ()
    retry: Retry = field(default_factory=Retry)
    headers: RateHeaders = field(default_factory=RateHeaders)
    error_when: Expr | None = None
    error_message: Expr | None = None
    rate_limited_when: Expr | None = None


@dataclass(frozen=True, slots=True)
class KvHeader:
    signature: str
    timestamp: str | None = None
    separator: str = ","


@dataclass(frozen=True, slots=True)
class TimestampCheck:
    unit: Literal["s", "ms"]
    tolerance_s: int
    header: str | None = None  # None: read from the kv header's timestamp entry


@dataclass(frozen=True, slots=True)
class VerifyHmac:
    algorithm: Literal["sha1", "sha256", "sha512"]
    key: Template
    message: Template
    signature_header: str
    encoding: Literal["hex", "HEX", "base64"]
    prefix: str = ""
    kv: KvHeader | None = None
    timestamp: TimestampCheck | None = None
    type: Literal["hmac"] = "hmac"


@dataclass(frozen=True, slots=True)
class VerifyHeaderEquals:
    header: str
    value: Template
    type: Literal["header_equals"] = "header_equals"


@dataclass(frozen=True, slots=True)
class VerifyBodyEquals:
    """A shared secret carried in a body field (a dotted path), compared in constant time."""

    path: tuple[str, ...]
    value: Template
    body: Literal["json", "form"] = "json"
    type: Literal["body_equals"] = "body_equals"


@dataclass(frozen=True, slots=True)
class VerifyNone:
    reason: str = ""
    type: Literal["none"] = "none"


@dataclass(frozen=True, slots=True)
class VerifySignature:
    """An asymmetric signature: the vendor signs with its private key, the engine checks with the
    public key (PEM or base64 DER, from the environment or a stored secret)."""

    algorithm: Literal["ecdsa_p256_sha256", "ed25519", "rsa_pkcs1_sha256"]
    public_key: Template
    message: Template
    signature_header: str
    encoding: Literal["base64", "base64url", "hex"] = "base64"
    format: Literal["der", "raw"] = "der"  # ECDSA: DER sequence or r||s (IEEE P1363)
    prefix: str = ""
    timestamp: TimestampCheck | None = None
    type: Literal["signature"] = "signature"


Verify = VerifyHmac | VerifyHeaderEquals | VerifyBodyEquals | VerifySignature | VerifyNone


@dataclass(frozen=True, slots=True)
class HandshakeQueryEcho:
    token_param: str
    token: Template
    challenge_param: str
    response_key: str
    mode_param: str | None = None
    fail_status: int = 401
    type: Literal["query_echo"] = "query_echo"


@dataclass(frozen=True, slots=True)
class HandshakeVerifyCode:
    param: str
    code: Template
    ok_status: int = 204
    fail_status: int = 404
    type: Literal["verify_code"] = "verify_code"


@dataclass(frozen=True, slots=True)
class HandshakePing:
    when: Expr
    status: int = 200
    verify: bool = True
    type: Literal["ping"] = "ping"


@dataclass(frozen=True, slots=True)
class HandshakeVerification:
    when: Expr
    ok_status: int = 201
    fail_status: int = 401
    type: Literal["verification"] = "verification"


@dataclass(frozen=True, slots=True)
class HandshakeHead:
    status: int = 200
    type: Literal["head"] = "head"


Handshake = (
    HandshakeQueryEcho | HandshakeVerifyCode | HandshakePing | HandshakeVerification | HandshakeHead
)


@dataclass(frozen=True, slots=True)
class EventExtractor:
    type: Expr
    select: Expr | None = None
    id: Expr | None = None
    user: Expr | None = None
    object_id: Expr | None = None
    callback_url: Expr | None = None
    data: Expr | None = None
    window_start: Expr | None = None
    window_end: Expr | None = None
    time_format: str = "iso"
    # The vendor re-sends a record under the same id when its content changes (an update that
    # replaces): the inbox then tells repeats apart by content, not by id alone.
    updates_reuse_id: bool = False


@dataclass(frozen=True, slots=True)
class Confirm:
    """How a route asks the vendor before acting on a delivery that is not authenticated.

    `fetch`: re-read the data with the user's token instead of storing the body (by id, window,
    callback URL, or the resource's `changes` listing around the delivery's arrival); `reread`: a
    delete re-reads the record and tombstones only what the vendor answers 404/410 for;
    `token`: a disconnect holds once the vendor refuses a refresh of the user's token;
    `request`: a disconnect holds once the vendor refuses the user's token on `request`, or its
    answer matches `when`."""

    kind: Literal["fetch", "reread", "token", "request"]
    resource: str | None = None
    by: Literal["id", "window", "callback_url", "changes"] = "id"
    lookback_s: int = 86400
    request: Request | None = None
    when: Expr | None = None


@dataclass(frozen=True, slots=True)
class Route:
    action: Literal["fetch", "delete", "ingest", "disconnect", "ignore"]
    resource: str | None = None
    by: Literal["id", "window", "callback_url"] = "id"
    when: Expr | None = None
    confirm: Confirm | None = None


@dataclass(frozen=True, slots=True)
class AckAnswer:
    """A spec-declared answer to a delivery: status, headers and, when `body` is set, that exact
    JSON body (already serialized); without `body` the engine's own JSON is sent (none on 204)."""

    status: int
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Ack:
    accepted: AckAnswer | None = None  # a delivery stored (or a replay of one)
    refused: AckAnswer | None = None  # a delivery that fails `verify`


@dataclass(frozen=True, slots=True)
class Webhooks:
    verify: Verify
    events: tuple[EventExtractor, ...]
    routes: dict[str, tuple[Route, ...]]
    handshakes: tuple[Handshake, ...] = ()
    body: Literal["json", "form"] = "json"
    max_body_bytes: int = 262144
    # How far a delivery can be believed (derived from `verify`, lowered by `verify.trust`).
    trust: Literal["authenticated", "weak", "unauthenticated"] = "authenticated"
    ack: Ack = field(default_factory=Ack)


@dataclass(frozen=True, slots=True)
class AppSubscriptions:
    create: tuple[Request, ...] = ()
    list: Request | None = None
    renew: Request | None = None
    items: Expr | None = None
    id: Expr | None = None
    expires_at: Expr | None = None
    renew_before_s: int | None = None
    store_secrets: tuple[tuple[str, Expr], ...] = ()


@dataclass(frozen=True, slots=True)
class Subscriptions:
    subscribe: tuple[Request, ...] = ()
    unsubscribe: tuple[Request, ...] = ()
    app: AppSubscriptions | None = None


@dataclass(frozen=True, slots=True)
class Paginate:
    type: Literal["cursor", "next_url", "link_header", "offset", "page", "none"]
    next: Expr | None = None  # cursor / next_url
    param: str | None = None  # cursor, offset, page
    rel: str = "next"  # link_header
    limit_param: str | None = None  # offset
    limit: int | None = None
    more: Expr | None = None
    total: Expr | None = None
    next_offset: Expr | None = None
    size_param: str | None = None  # page
    size: int | None = None
    start: int = 1
    max_pages: int = 10000


@dataclass(frozen=True, slots=True)
class Window:
    max_s: int
    format: str = "iso"
    end_inclusive: bool = False
    sorted_by: Expr | None = None  # the record's time, for lists read oldest first from a start
    start_exclusive: bool = False  # the vendor excludes its start bound: send one unit earlier
    local: bool = False  # bounds rendered as the user's wall-clock time (a civil-time filter)


# A list endpoint whose spec names no `horizon` is read back at most this far (two years): every
# sync of it is clamped to the last DEFAULT_HORIZON_S seconds. One sync request may queue at most
# MAX_SYNC_WINDOWS windows; a spec whose resources would need more for their whole horizons does
# not compile, so a sync clamped to the horizons always fits.
DEFAULT_HORIZON_S = 730 * 86400
MAX_SYNC_WINDOWS = 1000


@dataclass(frozen=True, slots=True)
class ListEndpoint:
    request: Request
    records: Expr
    paginate: Paginate
    window: Window | None = None
    horizon_s: int = DEFAULT_HORIZON_S  # how far back the vendor keeps data (the effective horizon)
    accepted_status: int | None = None


@dataclass(frozen=True, slots=True)
class IdLookup:
    request: Request
    path: Expr


@dataclass(frozen=True, slots=True)
class GetEndpoint:
    request: Request
    record: Expr | None = None
    id_from: IdLookup | None = None


@dataclass(frozen=True, slots=True)
class TimeField:
    path: Expr
    format: str = "iso"  # iso | epoch_s | epoch_ms | date | strftime pattern
    local: bool = False  # a wall-clock time without offset: converted with the zone in force
    utc: bool = False  # a time without offset that the vendor defines as UTC


@dataclass(frozen=True, slots=True)
class TzField:
    path: Expr
    format: TzFormat = "offset"


@dataclass(frozen=True, slots=True)
class UnitFrom:
    """A unit the record names itself (a quantity with its unit string), looked up in the spec's
    `units` table (the platform's unit strings) and else taken as a catalogue unit name."""

    path: Expr
    names: tuple[tuple[str, str], ...] = ()  # platform unit string -> catalogue unit


@dataclass(frozen=True, slots=True)
class ValueField:
    name: str
    path: Expr | None  # None for constants
    const: Any = None
    unit: str | UnitFrom | None = None  # the vendor's unit, converted to the field's canonical unit


@dataclass(frozen=True, slots=True)
class SampleMapping:
    type: str
    values: tuple[ValueField, ...]
    when: Expr | None = None
    each: Expr | None = None
    record_id: Expr | None = None
    start: TimeField | None = None  # `timestamp` in the spec is stored here too
    end: TimeField | None = None
    tz_offset: TzField | None = None
    local_date: Expr | None = None
    updated_at: TimeField | None = None
    device: Expr | None = None
    meta: tuple[tuple[str, Expr], ...] = ()
    # `identity.fields`: the record's identity when the vendor's id changes with its content
    # (compiled into `record_id`); `supersedes` is the id the same record was stored under before.
    identity_fields: tuple[str, ...] = ()
    supersedes: Expr | None = None


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    list: ListEndpoint | None
    get: GetEndpoint | None
    poll_s: int | None
    samples: tuple[SampleMapping, ...]
    changes: ListEndpoint | None = None  # records by when the vendor received them


@dataclass(frozen=True, slots=True)
class Ingest:
    """Batches an on-device source posts with a user's ingest token: the records of each type go
    to a resource and are mapped like fetched ones; deletions tombstone by the platform's id."""

    batch: str  # the variant of schemas/ingest-batch.schema.json a batch must match
    records: Expr
    type: Expr  # a record's type, the key of `routes`
    routes: dict[str, str]  # record type -> resource
    deleted: Expr | None = None
    deleted_id: Expr | None = None
    deleted_type: Expr | None = None  # without it a deletion is looked for in every resource
    token_ttl_s: int = 365 * 86400
    max_body_bytes: int = 4 * 1024 * 1024
    max_records: int = 10000
    rate: Budget = field(default_factory=lambda: Budget("user", 120, 60))


ZoneFrom = Literal["identity", "records", "app"]


@dataclass(frozen=True, slots=True)
class ZoneSource:
    """Where a connection's time zone comes from: a field of the identity (or a profile) call, an
    offset some records carry (in force from that record's time), or the zone the app passes at
    connect time."""

    kind: ZoneFrom
    path: Expr | None = None
    format: TzFormat = "iana"
    request: Request | None = None  # identity: a profile call instead of the identity call
    resource: str | None = None  # records: the resource whose records carry it
    at: TimeField | None = None  # records: the record's time


@dataclass(frozen=True, slots=True)
class Retirement:
    """A vendor API that was shut down: the spec still loads and validates, but is not offered
    for new connections."""

    support_ended: str | None = None  # YYYY-MM-DD
    turned_off: str | None = None
    successor: str | None = None  # the spec id that replaces it
    note: str = ""


@dataclass(frozen=True, slots=True)
class Spec:
    id: str
    name: str
    path: str
    api: Api
    auth: Auth
    limits: Limits
    webhooks: Webhooks | None
    subscriptions: Subscriptions
    resources: dict[str, Resource]
    initial_sync_days: int = 30
    env_missing: tuple[str, ...] = ()  # ${VAR} references with no value and no default
    time_zone: tuple[ZoneSource, ...] = ()  # the connection's zone, first source that answers
    status: Literal["active", "retired"] = "active"
    retirement: Retirement | None = None
    ingest: Ingest | None = None  # on-device source: batches posted with an ingest token

    @property
    def retired(self) -> bool:
        return self.status == "retired"
