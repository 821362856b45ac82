"""Compile a schema-valid spec mapping into the frozen model, checking its meaning on the way.

Structural checks are the JSON Schema's job; this pass checks what a schema cannot say: that every
expression and template compiles, that placeholders exist where they are used, that routes name
existing resources, that sample types, fields and units fit the catalogue, that URLs are https and
that secrets come from the environment. All issues are collected, not only the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from engine.spec import model as m
from engine.spec.catalogue import CATALOGUE
from engine.spec.compile_base import LOOPBACK_HOSTS, REQUEST_NAMES, Path, duration_seconds
from engine.spec.compile_ingest import IngestCompiler
from engine.spec.compile_webhooks import WebhooksCompiler
from engine.spec.compile_zones import ZonesCompiler
from engine.spec.errors import SpecError, closest
from engine.spec.expr import Expr
from engine.spec.secrets import is_secret_name


class _Compiler(ZonesCompiler, WebhooksCompiler, IngestCompiler):
    def api(self, raw: Mapping[str, Any]) -> m.Api:
        at: Path = ("api",)
        base = self.url(raw["base_url"], at + ("base_url",)).rstrip("/")
        hosts = {urlsplit(base).hostname or ""}
        hosts.update(h.lower() for h in raw.get("hosts", ()))
        for name, value in (raw.get("headers") or {}).items():
            if is_secret_name(name) and isinstance(value, str) and "${" not in value and "{" not in value:
                self.issue(at + ("headers", name), "secret.literal",
                           f"header {name} carries a secret: take it from the environment "
                           "(${NAME}), not a literal in the spec")
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
            errors=tuple(m.NamedError(code=e["code"], message=e["message"], status=e.get("status"),
                                      when=self.expr(e.get("when"), tat + ("errors", i, "when")))
                         for i, e in enumerate(tr_raw.get("errors", ()))),
        )
        identity = None
        if "identity" in raw:
            ident = raw["identity"]
            if "claims" in ident and "request" in ident:
                self.issue(at + ("identity", "claims"), "identity.claims_and_request",
                           "the user id comes from the access token's claims or from a request, not both")
            identity = m.Identity(
                user_id=self.expr(ident["user_id"], at + ("identity", "user_id")) or Expr("id"),
                request=self.request(ident["request"], at + ("identity", "request")) if "request" in ident else None,
                claims=ident.get("claims"),
            )
        refresh_token_in = raw.get("refresh_token_in", "body")
        if refresh_token_in == "authorization_header" and raw.get("client_auth") == "client_secret_basic":
            self.issue(at + ("refresh_token_in",), "auth.refresh_header_conflict",
                       "a refresh token in the Authorization header leaves no room for HTTP Basic client "
                       "authentication: use client_auth: client_secret_post")
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
            refresh_token_in=refresh_token_in,
            refresh_url=self.url(raw["refresh_url"], at + ("refresh_url",)) if "refresh_url" in raw else None,
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
                m.Budget(per=b["per"], requests=b["requests"], window_s=duration_seconds(b["window"]),
                         counted=b.get("counted", "sliding"))
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
            if not isinstance(value, str) and "unit_from" in value:
                unit = self.unit_from(value, vat, field_unit)
            elif field_unit is not None and unit is None:
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
        record_id, identity_fields, supersedes = self.identity(raw, at)
        return m.SampleMapping(
            type=type_name,
            values=tuple(values),
            when=self.expr(raw.get("when"), at + ("when",)),
            each=self.expr(raw.get("each"), at + ("each",)),
            record_id=record_id,
            identity_fields=identity_fields,
            supersedes=supersedes,
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
                              start_exclusive=w.get("start_exclusive", False),
                              local=w.get("local", False),
                              sorted_by=self.expr(w.get("sorted_by"), lat + ("window", "sorted_by")))
            if window.local and ("%" not in window.format or "%z" in window.format or "%Z" in window.format):
                self.issue(lat + ("window", "local"), "window.local_format",
                           "a window rendered as local time needs a strftime `format` without an offset "
                           f"(%z, %Z), not {window.format!r}")
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

    def local_windows_need_zone(self, resources: Mapping[str, m.Resource]) -> None:
        for name, resource in resources.items():
            for key, endpoint in (("list", resource.list), ("changes", resource.changes)):
                if endpoint is not None and endpoint.window is not None and endpoint.window.local:
                    self.issue(("resources", name, key, "window", "local"), "window.local_no_zone",
                               f"{name}: window bounds in local time need the user's zone: give the "
                               "spec a time_zone (identity, records or app)")

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
        time_zone = self.time_zone(raw.get("time_zone"), resources_raw)
        self.check_zones(resources, time_zone)
        if not time_zone:
            self.local_windows_need_zone(resources)
        status, retirement = self.lifecycle(raw)
        return m.Spec(
            id=raw["id"],
            name=raw["name"],
            path=self.path,
            api=self.api(raw["api"]) if "api" in raw else m.Api(base_url="", hosts=frozenset()),
            auth=self.ingest_auth(raw["auth"]) if raw["auth"]["type"] == "ingest_token" else self.auth(raw["auth"]),
            limits=self.limits(raw.get("limits", {})),
            webhooks=self.webhooks(raw["webhooks"], resources_raw) if "webhooks" in raw else None,
            subscriptions=self.subscriptions(raw.get("subscriptions", {})),
            resources=resources,
            initial_sync_days=raw.get("sync", {}).get("initial_days", 30),
            env_missing=tuple(dict.fromkeys(self.env_missing)),
            time_zone=time_zone,
            status=status,
            retirement=retirement,
            ingest=self.ingest(raw, resources_raw),
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
