"""Compile a schema-valid spec mapping into the frozen model, checking its meaning on the way.

Structural checks are the JSON Schema's job; this pass checks what a schema cannot say: that every
expression and template compiles, that placeholders exist where they are used, that routes name
existing resources, that sample types, fields and units fit the catalogue, that URLs are https and
that secrets come from the environment. All issues are collected, not only the first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from engine.spec import model as m
from engine.spec.catalogue import CATALOGUE
from engine.spec.env import EnvSyntaxError, interpolate, is_single_reference
from engine.spec.errors import SpecError, SpecIssue, closest
from engine.spec.expr import Expr, ExprError
from engine.spec.template import Template, TemplateError
from engine.spec.trust import ACTING_ACTIONS, LEVELS, TrustLevel, derived_trust, weaker

Path = tuple[str | int, ...]

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

# Placeholders each kind of template may use (besides env:NAME and secret:NAME).
REQUEST_NAMES = frozenset({
    "id", "window.start", "window.end", "access_token", "client_id", "client_secret",
    "vendor_user_id", "user_id", "webhook_url", "redirect_uri", "subscription_id",
})
SECRET_NAMES = frozenset({"client_secret", "client_id"})
MESSAGE_NAMES = frozenset({"body", "timestamp"})

_DURATION = re.compile(r"^([0-9]+)(ms|s|m|h|d)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_EVENT_EXPRS = ("select", "id", "user", "object_id", "callback_url", "data", "window_start",
                "window_end")


def duration_seconds(text: str) -> int:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"bad duration {text!r}")
    return max(1, int(int(match.group(1)) * _UNIT_SECONDS[match.group(2)]))


_CONFIRM_HINT = {
    "ingest": "re-read the data instead of storing the body, e.g. "
              "`confirm: {fetch: <resource>, by: id | window | callback_url | changes}`",
    "delete": "`confirm: reread` (tombstone only what the vendor answers 404/410 for)",
    "disconnect": "`confirm: token` (the vendor refuses a token refresh), `confirm: identity` (the "
                  "vendor refuses the token on the identity request) or "
                  "`confirm: {request: {path: …}, when: <expr on the answer>}`",
}


class _Compiler:
    def __init__(self, path: str, env: Mapping[str, str]) -> None:
        self.path = path
        self.env = env
        self.issues: list[SpecIssue] = []
        self.env_missing: list[str] = []
        self.raw_spec: Mapping[str, Any] = {}

    # -- primitives -------------------------------------------------------------------------

    def issue(self, at: Path, code: str, message: str, suggestion: str | None = None) -> None:
        self.issues.append(SpecIssue(at, code, message, suggestion))

    def text(self, value: str, at: Path) -> str:
        try:
            result, missing = interpolate(value, self.env)
        except EnvSyntaxError as exc:
            self.issue(at, "env.syntax", str(exc))
            return value
        self.env_missing.extend(missing)
        return result

    def expr(self, value: str | None, at: Path) -> Expr | None:
        if value is None:
            return None
        try:
            return Expr(value)
        except ExprError as exc:
            code = "expr.function" if "function" in str(exc) or "argument" in str(exc) else "expr.invalid"
            self.issue(at, code, str(exc))
            return None

    def template(self, value: Any, at: Path, allowed: frozenset[str], *, prefixes=("env", "secret")) -> Template:
        text = self.text(value if isinstance(value, str) else str(value), at)
        try:
            template = Template(text)
        except TemplateError as exc:
            self.issue(at, "template.invalid", str(exc))
            return Template("")
        for name in template.names:
            prefix = name.split(":", 1)[0] if ":" in name else None
            if prefix in prefixes or name in allowed:
                continue
            choices = sorted(allowed) + [f"{p}:NAME" for p in prefixes]
            self.issue(at, "template.unknown_placeholder",
                       f"unknown placeholder {{{name}}}; here you may use " + ", ".join("{" + c + "}" for c in choices),
                       closest(name, sorted(allowed)))
        return template

    def url(self, value: str, at: Path, *, absolute: bool = True) -> str:
        url = self.text(value, at)
        if "{" in url:  # a template: check its fixed scheme and host part only
            url_check = url.split("{", 1)[0]
        else:
            url_check = url
        parts = urlsplit(url_check)
        if not parts.scheme:
            if absolute and url_check:
                self.issue(at, "url.invalid", f"{url!r} is not an absolute URL")
            return url
        host = (parts.hostname or "").lower()
        if parts.scheme == "https":
            return url
        if parts.scheme == "http" and host in LOOPBACK_HOSTS:
            return url
        self.issue(at, "url.insecure", f"{url!r} must use https (http is allowed only for loopback hosts)")
        return url

    def secret_ref(self, value: str, at: Path) -> str:
        if not is_single_reference(value):
            self.issue(at, "secret.literal",
                       "secrets must come from the environment: write ${NAME}, not a literal value")
            return ""
        return self.text(value, at)

    def secret_template(self, value: str, at: Path) -> Template:
        template = self.template(value, at, SECRET_NAMES)
        named = any(n in SECRET_NAMES or n.startswith(("env:", "secret:")) for n in template.names)
        if not named and "${" not in value:
            self.issue(at, "secret.literal",
                       "a key or token must name its secret: {client_secret}, {env:NAME} or {secret:NAME}")
        return template

    def pairs(self, mapping: Mapping[str, Any] | None, at: Path,
              allowed=REQUEST_NAMES) -> tuple[tuple[str, Template], ...]:
        if not mapping:
            return ()
        return tuple((k, self.template(v, at + (k,), allowed)) for k, v in mapping.items())

    def json_template(self, value: Any, at: Path) -> Any:
        if isinstance(value, str):
            return self.template(value, at, REQUEST_NAMES)
        if isinstance(value, list):
            return [self.json_template(v, at + (i,)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.json_template(v, at + (k,)) for k, v in value.items()}
        return value

    def request(self, raw: Mapping[str, Any], at: Path, *, default_auth: str = "bearer") -> m.Request:
        path = raw.get("path")
        url = raw.get("url")
        if url is not None:
            self.url(url, at + ("url",))
        return m.Request(
            method=raw.get("method", "GET"),
            path=self.template(path, at + ("path",), REQUEST_NAMES) if path is not None else None,
            url=self.template(url, at + ("url",), REQUEST_NAMES) if url is not None else None,
            params=self.pairs(raw.get("params"), at + ("params",)),
            headers=self.pairs(raw.get("headers"), at + ("headers",)),
            json=self.json_template(raw["json"], at + ("json",)) if "json" in raw else None,
            form=self.pairs(raw.get("form"), at + ("form",)) if "form" in raw else None,
            auth=raw.get("auth", default_auth),
            ok_statuses=tuple(raw.get("ok_statuses", ())),
        )

    def requests(self, raws: list | None, at: Path, **kw: Any) -> tuple[m.Request, ...]:
        return tuple(self.request(r, at + (i,), **kw) for i, r in enumerate(raws or ()))

    # -- sections ---------------------------------------------------------------------------

    def api(self, raw: Mapping[str, Any]) -> m.Api:
        at: Path = ("api",)
        base = self.url(raw["base_url"], at + ("base_url",)).rstrip("/")
        hosts = {urlsplit(base).hostname or ""}
        hosts.update(h.lower() for h in raw.get("hosts", ()))
        return m.Api(
            base_url=base,
            hosts=frozenset(h for h in hosts if h),
            headers=self.pairs(raw.get("headers"), at + ("headers",)),
            timeout_s=float(raw.get("timeout_s", 30)),
        )

    def auth(self, raw: Mapping[str, Any]) -> m.Auth:
        at: Path = ("auth",)
        tr_raw = raw.get("token_response", {})
        fields = tr_raw.get("fields", {})
        tat = at + ("token_response",)

        def field(name: str) -> Expr | None:
            return self.expr(fields[name], tat + ("fields", name)) if name in fields else None

        def field_or(name: str, default: str) -> Expr:
            return field(name) or Expr(default)  # an invalid expression is an issue already

        token_response = m.TokenResponse(
            root=self.expr(tr_raw.get("root"), tat + ("root",)),
            success_when=self.expr(tr_raw.get("success_when"), tat + ("success_when",)),
            error_message=self.expr(tr_raw.get("error_message"), tat + ("error_message",)),
            invalid_grant_when=self.expr(tr_raw.get("invalid_grant_when"), tat + ("invalid_grant_when",)),
            access_token=field_or("access_token", "access_token"),
            refresh_token=field_or("refresh_token", "refresh_token"),
            expires_in=field_or("expires_in", "expires_in"),
            expires_at=field("expires_at"),
            scope=field_or("scope", "scope"),
            user_id=field("user_id"),
            default_expires_in=tr_raw.get("default_expires_in"),
        )
        identity = None
        if "identity" in raw:
            ident = raw["identity"]
            identity = m.Identity(
                user_id=self.expr(ident["user_id"], at + ("identity", "user_id")) or Expr("id"),
                request=self.request(ident["request"], at + ("identity", "request")) if "request" in ident else None,
            )
        return m.Auth(
            authorize_url=self.url(raw["authorize_url"], at + ("authorize_url",)),
            token_url=self.url(raw["token_url"], at + ("token_url",)),
            client_id=self.secret_ref(raw["client_id"], at + ("client_id",)),
            client_secret=self.secret_ref(raw["client_secret"], at + ("client_secret",)),
            scopes=tuple(raw.get("scopes", ())),
            scope_separator=raw.get("scope_separator", "space"),
            pkce=raw.get("pkce", False),
            client_auth=raw.get("client_auth", "client_secret_post"),
            authorize_params=self.pairs(raw.get("authorize_params"), at + ("authorize_params",)),
            token_params=self.pairs(raw.get("token_params"), at + ("token_params",)),
            refresh_params=self.pairs(raw.get("refresh_params"), at + ("refresh_params",)),
            token_response=token_response,
            identity=identity,
            revoke=self.request(raw["revoke"], at + ("revoke",)) if "revoke" in raw else None,
            post_auth=self.requests(raw.get("post_auth"), at + ("post_auth",)),
            on_disconnect=self.requests(raw.get("on_disconnect"), at + ("on_disconnect",)),
            min_state_length=raw.get("min_state_length", 32),
        )

    def limits(self, raw: Mapping[str, Any]) -> m.Limits:
        at: Path = ("limits",)
        retry_raw = raw.get("retry", {})
        retry = m.Retry(
            statuses=tuple(retry_raw.get("statuses", m.Retry().statuses)),
            max_attempts=retry_raw.get("max_attempts", m.Retry().max_attempts),
            base_s=float(retry_raw.get("base_s", m.Retry().base_s)),
            cap_s=float(retry_raw.get("cap_s", m.Retry().cap_s)),
        )
        headers_raw = raw.get("headers", {})
        return m.Limits(
            budgets=tuple(
                m.Budget(per=b["per"], requests=b["requests"], window_s=duration_seconds(b["window"]))
                for b in raw.get("budgets", ())
            ),
            retry=retry,
            headers=m.RateHeaders(
                retry_after=headers_raw.get("retry_after", "Retry-After"),
                remaining=headers_raw.get("remaining"),
                reset=headers_raw.get("reset"),
                reset_unit=headers_raw.get("reset_unit", "seconds"),
            ),
            error_when=self.expr(raw.get("error_when"), at + ("error_when",)),
            error_message=self.expr(raw.get("error_message"), at + ("error_message",)),
            rate_limited_when=self.expr(raw.get("rate_limited_when"), at + ("rate_limited_when",)),
        )

    def verify(self, raw: Mapping[str, Any], at: Path) -> m.Verify:
        kind = raw["type"]
        if kind == "none":
            return m.VerifyNone(reason=raw.get("reason", ""))
        if kind == "header_equals":
            return m.VerifyHeaderEquals(header=raw["header"], value=self.secret_template(raw["value"], at + ("value",)))
        sig = raw["signature"]
        kv = sig.get("kv")
        ts = raw.get("timestamp")
        message = self.template(raw["message"], at + ("message",), MESSAGE_NAMES, prefixes=("header",))
        if "timestamp" in message.names and not (ts and (ts.get("header") or (kv and kv.get("timestamp")))):
            self.issue(at + ("message",), "template.unknown_placeholder",
                       "{timestamp} needs a timestamp check with a header or a kv timestamp entry")
        if ts and not ts.get("header") and not (kv and kv.get("timestamp")):
            self.issue(at + ("timestamp",), "verify.timestamp_source",
                       "timestamp needs a header, or signature.kv.timestamp to read it from")
        return m.VerifyHmac(
            algorithm=raw["algorithm"],
            key=self.secret_template(raw["key"], at + ("key",)),
            message=message,
            signature_header=sig["header"],
            encoding=sig["encoding"],
            prefix=sig.get("prefix", ""),
            kv=m.KvHeader(signature=kv["signature"], timestamp=kv.get("timestamp"),
                          separator=kv.get("separator", ",")) if kv else None,
            timestamp=m.TimestampCheck(unit=ts["unit"], tolerance_s=ts["tolerance_s"], header=ts.get("header"))
            if ts else None,
        )

    def handshake(self, raw: Mapping[str, Any], at: Path) -> m.Handshake | None:
        kind = raw["type"]
        if kind == "query_echo":
            return m.HandshakeQueryEcho(
                token_param=raw["token_param"], token=self.secret_template(raw["token"], at + ("token",)),
                challenge_param=raw["challenge_param"], response_key=raw["response_key"],
                mode_param=raw.get("mode_param"), fail_status=raw.get("fail_status", 401))
        if kind == "verify_code":
            return m.HandshakeVerifyCode(
                param=raw["param"], code=self.secret_template(raw["code"], at + ("code",)),
                ok_status=raw.get("ok_status", 204), fail_status=raw.get("fail_status", 404))
        if kind == "ping":
            when = self.expr(raw["when"], at + ("when",))
            return m.HandshakePing(when=when, status=raw.get("status", 200),
                                   verify=raw.get("verify", True)) if when else None
        if kind == "verification":
            when = self.expr(raw["when"], at + ("when",))
            return m.HandshakeVerification(when=when, ok_status=raw.get("ok_status", 201),
                                           fail_status=raw.get("fail_status", 401)) if when else None
        return m.HandshakeHead(status=raw.get("status", 200))

    def webhooks(self, raw: Mapping[str, Any], resources: Mapping[str, Any]) -> m.Webhooks:
        at: Path = ("webhooks",)
        events_raw = raw["events"]
        extractors_raw = events_raw if isinstance(events_raw, list) else [events_raw]
        extractors = []
        for i, ev in enumerate(extractors_raw):
            eat = at + ("events", i) if isinstance(events_raw, list) else at + ("events",)
            event_type = self.expr(ev.get("type"), eat + ("type",)) or Expr("type")
            exprs = {key: self.expr(ev.get(key), eat + (key,)) for key in _EVENT_EXPRS}
            extractors.append(m.EventExtractor(event_type, **exprs, time_format=ev.get("time_format", "iso")))
        has_window = any(ev.get("window_start") and ev.get("window_end") for ev in extractors_raw)
        verify = self.verify(raw["verify"], at + ("verify",))
        trust = self.trust(raw["verify"], verify, at + ("verify",))
        routes: dict[str, tuple[m.Route, ...]] = {}
        for event_type, value in raw["on"].items():
            items = value if isinstance(value, list) else [value]
            compiled = []
            for i, route in enumerate(items):
                rat = at + ("on", event_type) + ((i,) if isinstance(value, list) else ())
                compiled.append(self.route(route, rat, resources, has_window=has_window, trust=trust))
            routes[event_type] = tuple(compiled)
        return m.Webhooks(
            verify=verify,
            trust=trust,
            events=tuple(extractors),
            routes=routes,
            handshakes=tuple(h for i, hr in enumerate(raw.get("handshakes", ()))
                             if (h := self.handshake(hr, at + ("handshakes", i))) is not None),
            body=raw.get("body", "json"),
            max_body_bytes=raw.get("max_body_bytes", 262144),
        )

    def trust(self, raw: Mapping[str, Any], verify: m.Verify, at: Path) -> TrustLevel:
        derived = derived_trust(verify)
        declared = raw.get("trust")
        if declared is None:
            return derived
        if LEVELS.index(declared) > LEVELS.index(derived):
            self.issue(at + ("trust",), "verify.trust_stronger",
                       f"trust: {declared} is stronger than what this verify block proves ({derived}); "
                       "a spec may only declare a weaker level")
        return weaker(declared, derived)

    def route(self, raw: Mapping[str, Any], at: Path, resources: Mapping[str, Any], *,
              has_window: bool = True, trust: TrustLevel = "authenticated") -> m.Route:
        route = self._route(raw, at, resources, has_window=has_window)
        confirm = None
        if "confirm" in raw:
            confirm = self.confirm(raw["confirm"], at + ("confirm",), route, resources)
        elif trust != "authenticated" and route.action in ACTING_ACTIONS:
            why = ("verify: none checks nothing" if trust == "unauthenticated" else
                   "webhooks.verify checks only a public value, such as a client id or a literal")
            self.issue(at + (route.action,), "route.needs_confirm",
                       f"{route.action} would act on a forged delivery ({why}); add a confirmation "
                       f"step that asks the vendor first: {_CONFIRM_HINT[route.action]}")
        return m.Route(action=route.action, resource=route.resource, by=route.by, when=route.when,
                       confirm=confirm)

    def confirm(self, raw: Any, at: Path, route: m.Route, resources: Mapping[str, Any]) -> m.Confirm | None:
        action = route.action
        if action == "delete":
            if raw != "reread":
                self.issue(at, "confirm.kind", f"a delete is confirmed by re-reading: {_CONFIRM_HINT['delete']}")
                return None
            res = resources.get(route.resource or "", {})
            if route.by == "id" and "get" not in res:
                self.issue(at, "confirm.no_get", f"confirm: reread by id needs resources.{route.resource}.get")
            if route.by == "window":
                self.issue(at, "confirm.reread_window",
                           "a delete by window cannot be confirmed record by record; route the event "
                           f"as `fetch: {route.resource}, by: window` instead (a re-read stores what "
                           "the vendor still has)")
            return m.Confirm(kind="reread", resource=route.resource, by=route.by)
        if action == "disconnect":
            if raw == "token":
                return m.Confirm(kind="token")
            if raw == "identity":
                identity = self.raw_spec.get("auth", {}).get("identity", {})
                if "request" not in identity:
                    self.issue(at, "confirm.no_identity_request",
                               "confirm: identity needs auth.identity.request; use confirm: token, or "
                               "confirm: {request: …, when: …}")
                    return None
                return m.Confirm(kind="request",
                                 request=self.request(identity["request"], ("auth", "identity", "request")))
            if isinstance(raw, Mapping) and "request" in raw:
                return m.Confirm(kind="request", request=self.request(raw["request"], at + ("request",)),
                                 when=self.expr(raw.get("when"), at + ("when",)))
            self.issue(at, "confirm.kind", f"a disconnect is confirmed at the vendor: {_CONFIRM_HINT['disconnect']}")
            return None
        if action == "ingest":
            if not (isinstance(raw, Mapping) and "fetch" in raw):
                self.issue(at, "confirm.kind", f"inline data is confirmed by re-reading it: {_CONFIRM_HINT['ingest']}")
                return None
            name, by = raw["fetch"], raw.get("by", "id")
            res = resources.get(name)
            if res is None:
                self.issue(at + ("fetch",), "route.unknown_resource",
                           f"fetch: {name!r} is not a resource of this spec", closest(name, sorted(resources)))
                return None
            needs = {"id": ("get", "get"), "changes": ("changes", "changes"),
                     "callback_url": ("get", "get or list"), "window": ("list", "list.window")}[by]
            if by == "window":
                present = "window" in res.get("list", {})
            elif by == "callback_url":
                present = "get" in res or "list" in res
            else:
                present = needs[0] in res
            if not present:
                self.issue(at + ("by",), "confirm.no_endpoint",
                           f"confirm by {by} needs resources.{name}.{needs[1]}")
            lookback = duration_seconds(raw["lookback"]) if "lookback" in raw else 86400
            return m.Confirm(kind="fetch", resource=name, by=by, lookback_s=lookback)
        self.issue(at, "confirm.not_needed", f"{action} reads from the vendor already; it needs no confirm step")
        return None

    def _route(self, raw: Mapping[str, Any], at: Path, resources: Mapping[str, Any], *,
               has_window: bool = True) -> m.Route:
        when = self.expr(raw.get("when"), at + ("when",))
        for action in ("fetch", "delete", "ingest"):
            if action not in raw:
                continue
            name = raw[action]
            if name not in resources:
                self.issue(at + (action,), "route.unknown_resource",
                           f"{action}: {name!r} is not a resource of this spec",
                           closest(name, sorted(resources)))
                return m.Route(action=action, resource=name, when=when)
            res = resources[name]
            by = raw.get("by", "id")
            if action == "fetch" and by == "id" and "get" not in res:
                self.issue(at + (action,), "route.no_get", f"fetch by id needs resources.{name}.get")
            if action == "fetch" and by == "window" and "window" not in res.get("list", {}):
                self.issue(at + (action,), "route.no_window", f"fetch by window needs resources.{name}.list.window")
            if by == "window" and not has_window:
                self.issue(at + (action,), "route.no_event_window",
                           f"{action} by window needs webhooks.events.window_start and window_end "
                           "(where the event says which time range changed)")
            if action == "delete" and by == "callback_url":
                self.issue(at + ("by",), "route.delete_by_callback",
                           "delete works by id or by window; a callback URL names nothing to delete")
            if action == "ingest" and not res.get("samples"):
                self.issue(at + (action,), "route.no_samples", f"ingest needs resources.{name}.samples")
            return m.Route(action=action, resource=name, by=by, when=when)
        if raw.get("disconnect"):
            return m.Route(action="disconnect", when=when)
        return m.Route(action="ignore", when=when)

    def subscriptions(self, raw: Mapping[str, Any]) -> m.Subscriptions:
        at: Path = ("subscriptions",)
        per_user = raw.get("per_user", {})
        app_raw = raw.get("app")
        app = None
        if app_raw is not None:
            aat = at + ("app",)
            app = m.AppSubscriptions(
                create=self.requests(app_raw.get("create"), aat + ("create",), default_auth="none"),
                list=self.request(app_raw["list"], aat + ("list",), default_auth="none") if "list" in app_raw else None,
                renew=(self.request(app_raw["renew"], aat + ("renew",), default_auth="none")
                       if "renew" in app_raw else None),
                items=self.expr(app_raw.get("items"), aat + ("items",)),
                id=self.expr(app_raw.get("id"), aat + ("id",)),
                expires_at=self.expr(app_raw.get("expires_at"), aat + ("expires_at",)),
                renew_before_s=duration_seconds(app_raw["renew_before"]) if "renew_before" in app_raw else None,
                store_secrets=tuple((k, e) for k, v in app_raw.get("store_secrets", {}).items()
                                    if (e := self.expr(v, aat + ("store_secrets", k))) is not None),
            )
        return m.Subscriptions(
            subscribe=self.requests(per_user.get("subscribe"), at + ("per_user", "subscribe")),
            unsubscribe=self.requests(per_user.get("unsubscribe"), at + ("per_user", "unsubscribe")),
            app=app,
        )

    def paginate(self, raw: Mapping[str, Any] | None, at: Path) -> m.Paginate:
        if not raw:
            return m.Paginate(type="none")
        return m.Paginate(
            type=raw["type"],
            next=self.expr(raw.get("next"), at + ("next",)),
            param=raw.get("param"),
            rel=raw.get("rel", "next"),
            limit_param=raw.get("limit_param"),
            limit=raw.get("limit"),
            more=self.expr(raw.get("more"), at + ("more",)),
            total=self.expr(raw.get("total"), at + ("total",)),
            next_offset=self.expr(raw.get("next_offset"), at + ("next_offset",)),
            size_param=raw.get("size_param"),
            size=raw.get("size"),
            start=raw.get("start", 1),
            max_pages=raw.get("max_pages", 10000),
        )

    def time_field(self, raw: Any, at: Path) -> m.TimeField | None:
        if raw is None:
            return None
        path, fmt = (raw, "iso") if isinstance(raw, str) else (raw["path"], raw.get("format", "iso"))
        expr = self.expr(path, at if isinstance(raw, str) else at + ("path",))
        if fmt not in ("iso", "epoch_s", "epoch_ms", "date") and "%" not in fmt:
            self.issue(at, "time.format",
                       f"unknown time format {fmt!r}; use iso, epoch_s, epoch_ms, date or a strftime pattern")
        return m.TimeField(path=expr, format=fmt) if expr else None

    def sample(self, raw: Mapping[str, Any], at: Path) -> m.SampleMapping | None:
        type_name = raw["type"]
        sample_type = CATALOGUE.sample_type(type_name)
        if sample_type is None:
            self.issue(at + ("type",), "sample.unknown_type", f"unknown sample type {type_name!r}",
                       closest(type_name, sorted(CATALOGUE.types)))
            return None
        values = []
        for name, value in raw["values"].items():
            vat = at + ("values", name)
            field = CATALOGUE.field(type_name, name)
            if field is None:
                self.issue(vat, "sample.unknown_field", f"{type_name} has no value field {name!r}",
                           closest(name, sorted(sample_type.fields)))
                continue
            path, const, unit = (value, None, None) if isinstance(value, str) else (
                value.get("path"), value.get("const"), value.get("unit"))
            field_unit = field.unit  # None: not a quantity
            if field_unit is not None and unit is None:
                self.issue(vat, "unit.missing", f"{type_name}.{name} is a quantity in {field_unit}: give its unit")
            elif field_unit is None and unit is not None:
                self.issue(vat + ("unit",), "unit.unexpected", f"{type_name}.{name} is not a quantity; remove unit")
            elif field_unit is not None and unit is not None:
                try:
                    CATALOGUE.unit_converter(unit, field_unit)
                except ValueError as exc:
                    self.issue(vat + ("unit",), "unit.convert", str(exc))
            expr = self.expr(path, vat if isinstance(value, str) else vat + ("path",)) if path is not None else None
            values.append(m.ValueField(name=name, path=expr, const=const, unit=unit))
        for name, field_def in sample_type.fields.items():
            if field_def.required and name not in raw["values"]:
                self.issue(at + ("values",), "sample.missing_field", f"{type_name} needs value field {name!r}")
        start_raw = raw.get("start", raw.get("timestamp"))
        if start_raw is None:
            self.issue(at, "sample.no_time", "a sample mapping needs start or timestamp")
        if "start" in raw and "timestamp" in raw:
            self.issue(at + ("timestamp",), "sample.time_twice", "give start or timestamp, not both")
        tz_raw = raw.get("tz_offset")
        tz = None
        if tz_raw is not None:
            tz_fmt: m.TzFormat = "offset"
            if isinstance(tz_raw, str):
                tz_path = tz_raw
            else:
                tz_path, tz_fmt = tz_raw["path"], tz_raw.get("format", "offset")
            tz_expr = self.expr(tz_path, at + ("tz_offset",))
            tz = m.TzField(path=tz_expr, format=tz_fmt) if tz_expr else None
        return m.SampleMapping(
            type=type_name,
            values=tuple(values),
            when=self.expr(raw.get("when"), at + ("when",)),
            each=self.expr(raw.get("each"), at + ("each",)),
            record_id=self.expr(raw.get("record_id"), at + ("record_id",)),
            start=self.time_field(start_raw, at + ("start" if "start" in raw else "timestamp",)),
            end=self.time_field(raw.get("end"), at + ("end",)),
            tz_offset=tz,
            local_date=self.expr(raw.get("local_date"), at + ("local_date",)),
            updated_at=self.time_field(raw.get("updated_at"), at + ("updated_at",)),
            device=self.expr(raw.get("device"), at + ("device",)),
            meta=tuple((k, e) for k, v in raw.get("meta", {}).items()
                       if (e := self.expr(v, at + ("meta", k))) is not None),
        )

    def list_endpoint(self, lr: Mapping[str, Any], lat: Path) -> m.ListEndpoint:
        window = None
        if "window" in lr:
            w = lr["window"]
            window = m.Window(max_s=duration_seconds(w["max"]), format=w.get("format", "iso"),
                              end_inclusive=w.get("end_inclusive", False),
                              sorted_by=self.expr(w.get("sorted_by"), lat + ("window", "sorted_by")))
        return m.ListEndpoint(
            request=self.request(lr["request"], lat + ("request",)),
            records=self.expr(lr["records"], lat + ("records",)) or Expr("records"),
            paginate=self.paginate(lr.get("paginate"), lat + ("paginate",)),
            window=window,
            horizon_s=duration_seconds(lr["horizon"]) if "horizon" in lr else m.DEFAULT_HORIZON_S,
            accepted_status=lr.get("accepted_status"),
        )

    def whole_horizons_fit(self, resources: Mapping[str, m.Resource]) -> None:
        """A sync of every resource over its whole history horizon must fit in one sync request
        (`MAX_SYNC_WINDOWS`), so a sync clamped to the horizons is never refused for its size."""
        counts = {name: _horizon_windows(r.list) for name, r in resources.items() if r.list is not None}
        total = sum(counts.values())
        if total > m.MAX_SYNC_WINDOWS:
            name = max(counts, key=lambda n: counts[n])
            self.issue(("resources", name, "list"), "sync.too_many_windows",
                       f"a sync over every resource's whole history horizon would need {total} windows "
                       f"({name}: {counts[name]}), more than the {m.MAX_SYNC_WINDOWS} one sync may queue; "
                       f"give resources.{name}.list a shorter `horizon` or a longer `window.max`")

    def resource(self, name: str, raw: Mapping[str, Any]) -> m.Resource:
        at: Path = ("resources", name)
        list_ep = self.list_endpoint(raw["list"], at + ("list",)) if "list" in raw else None
        changes = self.list_endpoint(raw["changes"], at + ("changes",)) if "changes" in raw else None
        get_ep = None
        if "get" in raw:
            gr = raw["get"]
            gat = at + ("get",)
            id_from = None
            if "id_from" in gr:
                lookup_path = self.expr(gr["id_from"]["path"], gat + ("id_from", "path"))
                id_from = m.IdLookup(request=self.request(gr["id_from"]["request"], gat + ("id_from", "request")),
                                     path=lookup_path or Expr("id"))
            get_ep = m.GetEndpoint(request=self.request(gr["request"], gat + ("request",)),
                                   record=self.expr(gr.get("record"), gat + ("record",)), id_from=id_from)
        samples = tuple(s for i, sr in enumerate(raw.get("samples", ()))
                        if (s := self.sample(sr, at + ("samples", i))) is not None)
        return m.Resource(name=name, list=list_ep, get=get_ep, changes=changes,
                          poll_s=duration_seconds(raw["poll"]) if "poll" in raw else None, samples=samples)

    def spec(self, raw: Mapping[str, Any]) -> m.Spec:
        self.raw_spec = raw
        resources_raw = raw.get("resources", {})
        resources = {name: self.resource(name, r) for name, r in resources_raw.items()}
        self.whole_horizons_fit(resources)
        return m.Spec(
            id=raw["id"],
            name=raw["name"],
            path=self.path,
            api=self.api(raw["api"]),
            auth=self.auth(raw["auth"]),
            limits=self.limits(raw.get("limits", {})),
            webhooks=self.webhooks(raw["webhooks"], resources_raw) if "webhooks" in raw else None,
            subscriptions=self.subscriptions(raw.get("subscriptions", {})),
            resources=resources,
            initial_sync_days=raw.get("sync", {}).get("initial_days", 30),
            env_missing=tuple(dict.fromkeys(self.env_missing)),
        )


def _horizon_windows(endpoint: m.ListEndpoint) -> int:
    """The most windows a sync over the endpoint's whole horizon can need (a date window's range
    is widened to whole days, which may add a day)."""
    window = endpoint.window
    if window is None:
        return 1
    if window.format == "date":
        return -(-(endpoint.horizon_s + 86400) // (max(1, window.max_s // 86400) * 86400))
    return -(-endpoint.horizon_s // window.max_s)


def compile_spec(raw: Mapping[str, Any], *, path: str = "<spec>", env: Mapping[str, str] | None = None) -> m.Spec:
    """Compile a schema-valid spec (``${VAR}`` not yet interpolated) or raise SpecError."""
    import os

    compiler = _Compiler(path, os.environ if env is None else env)
    spec = compiler.spec(raw)
    if compiler.issues:
        raise SpecError(compiler.issues, path)
    return spec


__all__ = ["LOOPBACK_HOSTS", "REQUEST_NAMES", "compile_spec", "duration_seconds"]
