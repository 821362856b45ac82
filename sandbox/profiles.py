"""Per-vendor facts the simulator imitates: OAuth dialect, token lifetimes, rate limits.

Every value here comes from the vendor documentation digest, never from the engine's specs; the
simulator is the independent ground truth the engine is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ClientAuth = Literal["basic", "form"]
Pkce = Literal["required", "optional", "none"]
# strict: a used refresh token is dead; reusing it revokes the whole token family.
# grace:  the old refresh token keeps working until the new access token is first used.
# none:   refresh tokens are not rotated (the same one stays valid).
Rotation = Literal["strict", "grace", "none"]
RateDialect = Literal["whoop", "oura", "fitbit", "google", "polar", "withings", "strava", "dexcom",
                      "plain"]
LimitScope = Literal["app", "user", "token"]


@dataclass(frozen=True)
class Window:
    requests: int
    window_s: int
    scope: LimitScope = "app"
    name: str = ""


@dataclass(frozen=True)
class Profile:
    name: str
    # Real hosts, keyed by the env var suffix a spec would use (WHOOP_API_BASE, OURA_AUTHORIZE_BASE...).
    hosts: dict[str, str]
    client_auth: ClientAuth
    pkce: Pkce
    scope_separator: str
    access_ttl_s: int
    rotation: Rotation = "strict"
    issues_refresh_token: bool = True
    code_ttl_s: int = 600
    rate_dialect: RateDialect = "plain"
    windows: tuple[Window, ...] = ()
    default_scopes: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"/{self.name}"


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="whoop",
            hosts={"API": "https://api.prod.whoop.com"},
            client_auth="form", pkce="none", scope_separator=" ", access_ttl_s=3600,
            rate_dialect="whoop",
            windows=(Window(100, 60), Window(10_000, 86_400)),
            default_scopes=("offline", "read:recovery", "read:cycles", "read:workout",
                            "read:sleep", "read:profile", "read:body_measurement"),
        ),
        Profile(
            name="oura",
            hosts={"API": "https://api.ouraring.com", "AUTHORIZE": "https://cloud.ouraring.com"},
            client_auth="form", pkce="none", scope_separator=" ", access_ttl_s=86_400,
            rate_dialect="oura",
            windows=(Window(5000, 300, "token", "token"), Window(5000, 300, "app", "app")),
            default_scopes=("email", "personal", "daily", "heartrate", "workout", "tag",
                            "session", "spo2Daily"),
        ),
        Profile(
            name="fitbit",
            hosts={"API": "https://api.fitbit.com", "AUTHORIZE": "https://www.fitbit.com"},
            client_auth="basic", pkce="optional", scope_separator=" ", access_ttl_s=28_800,
            rate_dialect="fitbit",
            windows=(Window(150, 3600, "user"),),
            default_scopes=("activity", "heartrate", "sleep", "profile", "weight",
                            "oxygen_saturation"),
        ),
        Profile(
            name="google_health",
            hosts={"API": "https://health.googleapis.com",
                   "AUTHORIZE": "https://accounts.google.com",
                   "TOKEN": "https://oauth2.googleapis.com"},
            client_auth="form", pkce="optional", scope_separator=" ", access_ttl_s=3599,
            rotation="none", rate_dialect="google",
            windows=(Window(300, 60, "user"), Window(120_000, 60)),
            default_scopes=(
                "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly",
                "https://www.googleapis.com/auth/googlehealth.sleep.readonly",
            ),
        ),
        Profile(
            name="garmin",
            hosts={"API": "https://apis.garmin.com", "AUTHORIZE": "https://connect.garmin.com",
                   "TOKEN": "https://diauth.garmin.com"},
            client_auth="form", pkce="required", scope_separator="", access_ttl_s=86_400,
            rate_dialect="plain",
            extra={"refresh_token_expires_in": 7_776_000},
        ),
        Profile(
            name="polar",
            hosts={"API": "https://www.polaraccesslink.com", "AUTHORIZE": "https://flow.polar.com",
                   "TOKEN": "https://polarremote.com"},
            client_auth="basic", pkce="none", scope_separator=" ", access_ttl_s=315_359_999,
            issues_refresh_token=False, rate_dialect="polar",
            # Documented as 500 + 20 x users per 15 min and 5000 + 100 x users per day; the
            # per-user part is added at request time.
            windows=(Window(500, 900, "app", "15min"), Window(5000, 86_400, "app", "24h")),
            default_scopes=("accesslink.read_all",),
        ),
        Profile(
            name="withings",
            hosts={"API": "https://wbsapi.withings.net",
                   "AUTHORIZE": "https://account.withings.com"},
            client_auth="form", pkce="none", scope_separator=",", access_ttl_s=10_800,
            rotation="grace", code_ttl_s=30, rate_dialect="withings",
            windows=(Window(120, 60),),
            default_scopes=("user.info", "user.metrics", "user.activity", "user.sleepevents"),
        ),
        Profile(
            name="strava",
            hosts={"API": "https://www.strava.com"},
            client_auth="form", pkce="none", scope_separator=",", access_ttl_s=21_600,
            rate_dialect="strava",
            windows=(Window(200, 900, "app", "overall"), Window(2000, 86_400, "app", "overall"),
                     Window(100, 900, "app", "read"), Window(1000, 86_400, "app", "read")),
            default_scopes=("read", "activity:read_all", "profile:read_all"),
        ),
        Profile(
            name="dexcom",
            hosts={"API": "https://api.dexcom.com"},
            client_auth="form", pkce="none", scope_separator=" ", access_ttl_s=7200,
            rate_dialect="dexcom",
            windows=(Window(60_000, 3600),),
            default_scopes=("offline_access",),
        ),
        Profile(
            name="wahoo",
            hosts={"API": "https://api.wahooligan.com"},
            client_auth="form", pkce="optional", scope_separator=" ", access_ttl_s=7200,
            # Production limits, fixed windows; authorization and token calls do not count.
            windows=(Window(200, 300), Window(1000, 3600), Window(5000, 86_400)),
            default_scopes=("user_read", "workouts_read", "offline_data"),
        ),
        Profile(
            name="ultrahuman",
            hosts={"API": "https://partner.ultrahuman.com",
                   "AUTHORIZE": "https://auth.ultrahuman.com",
                   "TOKEN": "https://partner.ultrahuman.com"},
            # Credentials in the body; no PKCE; limits and token lifetimes are not published.
            client_auth="form", pkce="none", scope_separator=" ", access_ttl_s=86_400,
            default_scopes=("ring_data", "cgm_data", "profile"),
        ),
        Profile(
            name="coros",
            hosts={"API": "https://open.coros.com"},
            # No scope parameter; access tokens last 30 days; the refresh token never expires.
            client_auth="form", pkce="none", scope_separator="", access_ttl_s=2_592_000,
            rotation="none", windows=(Window(1000, 60),), extra={"refresh_path": "/oauth2/refresh"},
        ),
        Profile(
            name="suunto",
            hosts={"API": "https://cloudapi.suunto.com",
                   "AUTHORIZE": "https://cloudapi-oauth.suunto.com",
                   "TOKEN": "https://cloudapi-oauth.suunto.com"},
            # HTTP Basic at the token endpoint; no PKCE; no scopes documented publicly.
            client_auth="basic", pkce="none", scope_separator=" ", access_ttl_s=86_400,
            extra={"jwt_access_tokens": True},
        ),
        Profile(
            name="zepp",
            hosts={"API": "https://api-open.huami.com",
                   "AUTHORIZE": "https://user.huami.com/Oauth/index.html#",
                   "TOKEN": "https://account.huami.com", "AUTH": "https://auth.huami.com"},
            # Credentials in the form; refreshes at their own path with the refresh token as
            # `Authorization: Bearer`; access tokens last 43200 s.
            client_auth="form", pkce="none", scope_separator=" ", access_ttl_s=43_200,
            extra={"refresh_path": "/oauth2/refresh_token", "refresh_token_in_header": True},
        ),
    )
}


def env_var_names(profile: Profile) -> list[str]:
    return [f"{profile.name.upper()}_{kind}_BASE" for kind in profile.hosts]
