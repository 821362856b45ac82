"""In-memory state of the simulated vendor clouds: clients, users, OAuth artefacts, data, counters."""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sandbox.profiles import PROFILES, Profile, Window

FAULT_KINDS = ("unavailable", "server_error", "timeout", "malformed_json", "unauthorized",
               "rate_limited")


GOOGLE_ENDPOINT_SECRET = "sim-endpoint-secret"  # the Authorization value our Google notifications carry
# Secrets set in a vendor's developer portal, which its deliveries and calls carry, by env name.
PORTAL_SECRETS = {"WAHOO_WEBHOOK_TOKEN": "sim-wahoo-webhook-token",
                  "SUUNTO_SUBSCRIPTION_KEY": "sim-suunto-apim-subscription-key",
                  "SUUNTO_WEBHOOK_SECRET": "sim-suunto-notification-secret"}


@dataclass
class SimUser:
    profile: str
    vendor_id: int | str
    seed: int
    days: int
    anchor: date
    registered: bool = False  # Polar: POST /v3/users done
    permissions: list[str] = field(default_factory=list)  # Garmin consent toggles

    @property
    def key(self) -> str:
        return str(self.vendor_id)


@dataclass
class Client:
    client_id: str
    client_secret: str
    allowed_scopes: frozenset[str] | None = None


@dataclass
class AuthorizeRecord:
    """What one authorize request asked for, so tests can assert the engine's URL."""
    profile: str
    params: dict[str, str]
    scopes: list[str]
    scope_string: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    user: str | None
    code: str | None
    error: str | None


@dataclass
class AuthCode:
    code: str
    profile: str
    client_id: str
    user_key: str
    scopes: list[str]
    redirect_uri: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    issued_at: float
    offline: bool = True
    used: bool = False


@dataclass
class TokenFamily:
    id: str
    profile: str
    user_key: str
    scopes: list[str]
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    family: TokenFamily
    expires_at: float
    used: bool = False
    revoked: bool = False


@dataclass
class RefreshToken:
    token: str
    family: TokenFamily
    expires_at: float | None
    successor_access: str | None = None  # access token issued when this one was used
    used_at: float | None = None


@dataclass
class Record:
    id: str
    start: float
    end: float
    data: dict[str, Any]
    updated: float = 0.0
    uploaded: float = 0.0  # Garmin: when the summary became available for pull


@dataclass
class Fault:
    profile: str
    path_prefix: str
    kind: str
    remaining: int
    status: int = 503
    retry_after: int = 1
    seconds: float = 30.0


@dataclass
class Call:
    profile: str
    method: str
    path: str  # path below the profile prefix
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0


class SimState:
    def __init__(self, profile_names: list[str] | None = None, *,
                 clock: Callable[[], float] = time.time, rate_limits: bool = True) -> None:
        names = list(profile_names) if profile_names else list(PROFILES)
        unknown = [n for n in names if n not in PROFILES]
        if unknown:
            raise ValueError(f"unknown simulator profiles: {unknown}; known: {sorted(PROFILES)}")
        self.profiles: dict[str, Profile] = {n: PROFILES[n] for n in names}
        self._clock = clock
        self._offset = 0.0
        self.lock = threading.RLock()
        self.closing = threading.Event()
        self.rate_limits_enabled = rate_limits
        self.verify_callbacks = True  # perform vendor handshakes against loopback callbacks
        self.outbound_transport: Any = None  # e.g. httpx2.ASGITransport(engine_app)
        self.page_sizes: dict[str, int] = {"oura": 25, "oura.heartrate": 500, "withings": 50,
                                           "google_health": 100, "fitbit": 20}
        self.clients: dict[str, Client] = {
            n: Client(f"{n}-client-id", f"{n}-client-secret") for n in names}
        self.users: dict[str, dict[str, SimUser]] = {n: {} for n in names}
        self.authorizations: list[AuthorizeRecord] = []
        self.codes: dict[str, AuthCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.token_ttl_s: dict[str, int] = {n: p.access_ttl_s for n, p in self.profiles.items()}
        self.calls: list[Call] = []
        self.counters: Counter[str] = Counter()
        self.limits: dict[str, tuple[Window, ...]] = {
            n: p.windows for n, p in self.profiles.items()}
        self.limit_hits: dict[tuple[str, str, int, int], int] = {}
        self.faults: list[Fault] = []
        self.delays: list[tuple[str, str, float]] = []
        self.subscriptions: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        self.backfills: list[dict[str, Any]] = []
        self.nonces: dict[str, float] = {}
        self.max_window_s: dict[str, int] = {"dexcom": 30 * 86_400, "polar": 28 * 86_400,
                                             "garmin_pull": 86_400,
                                             "garmin_backfill": 90 * 86_400}
        self._next_authorize: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        self._data: dict[tuple[str, str], dict[str, list[Record]]] = {}
        self._next_numeric_id = 100_000

    # --- time ---------------------------------------------------------------------------------
    def now(self) -> float:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward (tokens and rate windows follow)."""
        self._offset += seconds

    # --- profiles, clients, users ---------------------------------------------------------------
    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise KeyError(f"profile {name!r} is not served by this simulator")
        return self.profiles[name]

    def client(self, profile: str) -> Client:
        return self.clients[profile]

    def set_client(self, profile: str, *, client_id: str | None = None,
                   client_secret: str | None = None,
                   allowed_scopes: list[str] | None = None) -> Client:
        current = self.clients[profile]
        self.clients[profile] = Client(
            client_id or current.client_id, client_secret or current.client_secret,
            frozenset(allowed_scopes) if allowed_scopes is not None else current.allowed_scopes)
        return self.clients[profile]

    def new_numeric_id(self) -> int:
        with self.lock:
            self._next_numeric_id += 1
            return self._next_numeric_id

    def add_user(self, profile: str, user_id: int | str | None = None, *, seed: int | None = None,
                 days: int = 14, permissions: list[str] | None = None,
                 registered: bool | None = None) -> SimUser:
        """Create a vendor-side user whose dataset is derived from `seed` and covers `days` days
        ending at the start of the simulator's current UTC day."""
        self.profile(profile)
        from sandbox.datasets import default_user_id

        seed = seed if seed is not None else self.new_numeric_id()
        vendor_id = user_id if user_id is not None else default_user_id(profile, seed)
        anchor = datetime.fromtimestamp(self.now(), UTC).date()
        user = SimUser(profile, vendor_id, seed, days, anchor,
                       registered=bool(registered) if registered is not None else False,
                       permissions=list(permissions) if permissions is not None else [
                           "ACTIVITY_EXPORT", "HEALTH_EXPORT", "HISTORICAL_DATA_EXPORT"])
        with self.lock:
            self.users[profile][user.key] = user
        return user

    def user(self, profile: str, user_id: int | str) -> SimUser:
        return self.users[profile][str(user_id)]

    def default_user(self, profile: str) -> SimUser:
        existing = self.users[profile]
        return next(iter(existing.values())) if existing else self.add_user(profile)

    def next_authorize(self, profile: str, *, user: int | str | None = None,
                       granted_scopes: list[str] | None = None, error: str | None = None,
                       offline: bool = True) -> None:
        """Decide how the next authorize request for `profile` is answered: as `user` (default:
        the profile's first user), granting `granted_scopes` (default: all requested), or with
        `error` (e.g. "access_denied")."""
        self._next_authorize[profile].append(
            {"user": user, "granted_scopes": granted_scopes, "error": error, "offline": offline})

    def pop_authorize_plan(self, profile: str) -> dict[str, Any]:
        plans = self._next_authorize[profile]
        return plans.pop(0) if plans else {"user": None, "granted_scopes": None, "error": None}

    # --- tokens -------------------------------------------------------------------------------
    def issue_tokens(self, profile: str, user_key: str, scopes: list[str], *,
                     family: TokenFamily | None = None, with_refresh: bool = True
                     ) -> tuple[AccessToken, RefreshToken | None]:
        prof = self.profile(profile)
        now = self.now()
        with self.lock:
            if family is None:
                family = TokenFamily(secrets.token_hex(8), profile, user_key, list(scopes))
                self.counters[f"{profile}.families"] += 1
            text = f"{profile}-at-{secrets.token_urlsafe(18)}"
            if prof.extra.get("jwt_access_tokens"):  # the token names its user in JWT claims
                from sandbox.vendors.suunto import access_token_jwt

                text = access_token_jwt(self.clients[profile].client_secret, user_key, now,
                                        now + self.token_ttl_s[profile])
            access = AccessToken(text, family, now + self.token_ttl_s[profile])
            self.access_tokens[access.token] = access
            refresh = None
            if with_refresh and prof.issues_refresh_token:
                ttl = prof.extra.get("refresh_token_expires_in")
                refresh = RefreshToken(f"{profile}-rt-{secrets.token_urlsafe(18)}", family,
                                       now + int(ttl) if ttl else None)
                self.refresh_tokens[refresh.token] = refresh
            return access, refresh

    def token_for(self, profile: str, user: int | str, scopes: list[str] | None = None) -> str:
        """A valid access token for `user` without the OAuth dance (for API-side tests)."""
        prof = self.profile(profile)
        access, _ = self.issue_tokens(profile, str(user), list(scopes or prof.default_scopes),
                                      with_refresh=False)
        return access.token

    def revoke_family(self, family: TokenFamily) -> None:
        with self.lock:
            family.revoked = True
            self.counters[f"{family.profile}.families_revoked"] += 1

    def revoke_user(self, profile: str, user_key: str) -> None:
        with self.lock:
            for tok in list(self.access_tokens.values()):
                if tok.family.profile == profile and tok.family.user_key == user_key:
                    tok.family.revoked = True

    def expire_access_token(self, token: str) -> None:
        self.access_tokens[token].expires_at = self.now() - 1

    def valid_access(self, profile: str, token: str | None) -> AccessToken | None:
        tok = self.access_tokens.get(token or "")
        if (tok is None or tok.family.profile != profile or tok.revoked or tok.family.revoked
                or tok.expires_at <= self.now()):
            return None
        tok.used = True
        return tok

    def token_calls(self, profile: str) -> int:
        return self.counters[f"{profile}.token_calls"]

    def refresh_token_reuses(self, profile: str) -> int:
        return self.counters[f"{profile}.refresh_reuse"]

    # --- datasets -----------------------------------------------------------------------------
    def dataset(self, profile: str, user_key: str) -> dict[str, list[Record]]:
        from sandbox.datasets import generate

        key = (profile, user_key)
        with self.lock:
            if key not in self._data:
                self._data[key] = generate(self.user(profile, user_key))
            return self._data[key]

    def set_dataset(self, profile: str, user_key: str, data: dict[str, list[Record]]) -> None:
        """Replace what the vendor holds for the user (the life clock holds future records back)."""
        with self.lock:
            self._data[(profile, user_key)] = data

    def raw_records(self, profile: str, resource: str, user: int | str) -> list[Record]:
        data = self.dataset(profile, str(user))
        if resource not in data:
            raise KeyError(f"{profile} has no resource {resource!r}; has {sorted(data)}")
        return data[resource]

    def records(self, profile: str, resource: str, user: int | str) -> list[dict[str, Any]]:
        """Ground truth: the vendor-shaped records of `resource`, oldest first."""
        items = sorted(self.raw_records(profile, resource, user), key=lambda r: (r.start, r.id))
        return [copy.deepcopy(r.data) for r in items]

    def resources(self, profile: str, user: int | str) -> list[str]:
        return sorted(self.dataset(profile, str(user)))

    def add_record(self, profile: str, resource: str, user: int | str, record: Record) -> Record:
        record.updated = record.updated or self.now()
        record.uploaded = record.uploaded or self.now()
        with self.lock:
            self.raw_records(profile, resource, user).append(record)
        return record

    def update_record(self, profile: str, resource: str, user: int | str, record_id: str,
                      changes: dict[str, Any]) -> Record:
        with self.lock:
            for rec in self.raw_records(profile, resource, user):
                if rec.id == str(record_id):
                    _deep_update(rec.data, changes)
                    rec.updated = rec.uploaded = self.now()
                    return rec
        raise KeyError(f"{profile}/{resource}: no record {record_id!r} for user {user}")

    def delete_record(self, profile: str, resource: str, user: int | str, record_id: str) -> Record:
        with self.lock:
            items = self.raw_records(profile, resource, user)
            for i, rec in enumerate(items):
                if rec.id == str(record_id):
                    return items.pop(i)
        raise KeyError(f"{profile}/{resource}: no record {record_id!r} for user {user}")

    # --- rate limits, faults, delays ----------------------------------------------------------
    def set_limit(self, profile: str, *, requests: int, window_s: int, scope: str = "app") -> None:
        """Replace the vendor's documented limits with one scaled-down window."""
        self.limits[profile] = (Window(requests, window_s, scope, "scaled"),)  # type: ignore[arg-type]
        self.limit_hits = {k: v for k, v in self.limit_hits.items() if k[0] != profile}

    def lift_limits(self, profile: str | None = None) -> None:
        for name in [profile] if profile else list(self.profiles):
            self.limits[name] = ()

    def restore_limits(self, profile: str) -> None:
        self.limits[profile] = self.profiles[profile].windows

    def served_429(self, profile: str) -> int:
        return self.counters[f"{profile}.429"]

    def inject(self, profile: str, path_prefix: str, kind: str, times: int = 1, *,
               status: int | None = None, retry_after: int = 1, seconds: float = 30.0) -> Fault:
        """Make the next `times` requests under `path_prefix` (relative to the profile prefix,
        e.g. "/developer/v2/activity/sleep") fail with `kind`: unavailable (503 + Retry-After),
        server_error (5xx, `status`), timeout (answer after `seconds`), malformed_json (200 with
        a broken body), unauthorized (401 once, like a token expiring mid-backfill),
        rate_limited (the vendor's 429 dialect)."""
        self.profile(profile)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        default_status = {"unavailable": 503, "server_error": 500, "unauthorized": 401,
                          "rate_limited": 429}.get(kind, 200)
        fault = Fault(profile, path_prefix, kind, times, status or default_status, retry_after,
                      seconds)
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, profile: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.profile == profile and path.startswith(fault.path_prefix) \
                        and fault.remaining > 0:
                    fault.remaining -= 1
                    self.counters[f"{profile}.faults.{fault.kind}"] += 1
                    return fault
        return None

    def set_delay(self, profile: str, seconds: float, path_prefix: str = "") -> None:
        """Answer requests under `path_prefix` only after `seconds` (0 removes the delay)."""
        self.delays = [d for d in self.delays if (d[0], d[1]) != (profile, path_prefix)]
        if seconds > 0:
            self.delays.append((profile, path_prefix, seconds))

    def delay_for(self, profile: str, path: str) -> float:
        return max((s for p, pre, s in self.delays if p == profile and path.startswith(pre)),
                   default=0.0)

    # --- call log -----------------------------------------------------------------------------
    def calls_to(self, profile: str, path_prefix: str = "", method: str | None = None
                 ) -> list[Call]:
        return [c for c in self.calls if c.profile == profile and c.path.startswith(path_prefix)
                and (method is None or c.method == method)]

    def env(self, base_url: str) -> dict[str, str]:
        """Env vars pointing specs at this simulator: <VENDOR>_<API|AUTHORIZE|TOKEN>_BASE plus
        <VENDOR>_CLIENT_ID / <VENDOR>_CLIENT_SECRET."""
        out: dict[str, str] = {}
        for name, prof in self.profiles.items():
            upper = name.upper()
            for kind in dict.fromkeys(("API", "AUTHORIZE", "TOKEN", *prof.hosts)):
                out[f"{upper}_{kind}_BASE"] = f"{base_url}{prof.prefix}"
            out[f"{upper}_CLIENT_ID"] = self.clients[name].client_id
            out[f"{upper}_CLIENT_SECRET"] = self.clients[name].client_secret
        if "google_health" in self.profiles:  # Google's OAuth lives on its own hosts
            out["GOOGLE_OAUTH_AUTHORIZE_BASE"] = out["GOOGLE_HEALTH_AUTHORIZE_BASE"]
            out["GOOGLE_OAUTH_TOKEN_BASE"] = out["GOOGLE_HEALTH_TOKEN_BASE"]
            out["GOOGLE_HEALTH_WEBHOOK_SECRET"] = GOOGLE_ENDPOINT_SECRET
        out.update({name: value for name, value in PORTAL_SECRETS.items()
                    if name.split("_", 1)[0].lower() in self.profiles})
        return out


def _deep_update(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value
