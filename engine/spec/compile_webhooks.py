"""Compiling a spec's `webhooks` block: verification and its trust level, handshakes, event
extractors, and routes with their confirm steps (what a delivery that proves no secret may cause)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from engine.spec import model as m
from engine.spec.compile_base import MESSAGE_NAMES, CompilerBase, Path, duration_seconds
from engine.spec.errors import closest
from engine.spec.expr import Expr
from engine.spec.trust import ACTING_ACTIONS, LEVELS, TrustLevel, derived_trust, weaker

_EVENT_EXPRS = ("select", "id", "user", "object_id", "callback_url", "data", "window_start",
                "window_end")

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# Headers the webhook route writes itself from the answer's body.
_ENGINE_HEADERS = frozenset({"content-length", "content-type", "transfer-encoding"})

_CONFIRM_HINT = {
    "ingest": "re-read the data instead of storing the body, e.g. "
              "`confirm: {fetch: <resource>, by: id | window | callback_url | changes}`",
    "delete": "`confirm: reread` (tombstone only what the vendor answers 404/410 for)",
    "disconnect": "`confirm: token` (the vendor refuses a token refresh), `confirm: identity` (the "
                  "vendor refuses the token on the identity request) or "
                  "`confirm: {request: {path: …}, when: <expr on the answer>}`",
}


class WebhooksCompiler(CompilerBase):
    def verify(self, raw: Mapping[str, Any], at: Path) -> m.Verify:
        kind = raw["type"]
        if kind == "none":
            return m.VerifyNone(reason=raw.get("reason", ""))
        if kind == "header_equals":
            return m.VerifyHeaderEquals(header=raw["header"], value=self.secret_template(raw["value"], at + ("value",)))
        if kind == "signature":
            return self.verify_signature(raw, at)
        if kind == "body_equals":
            return self.verify_body_equals(raw, at)
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

    def verify_body_equals(self, raw: Mapping[str, Any], at: Path) -> m.VerifyBodyEquals:
        path = tuple(raw["field"].split("."))
        if not all(_FIELD_NAME.fullmatch(part) for part in path):
            self.issue(at + ("field",), "verify.body_field",
                       "a body field is a dotted path of names (e.g. webhook_token or auth.token)")
        return m.VerifyBodyEquals(path=path, value=self.secret_template(raw["value"], at + ("value",)),
                                  body=self.raw_spec.get("webhooks", {}).get("body", "json"))

    def verify_signature(self, raw: Mapping[str, Any], at: Path) -> m.VerifySignature:
        sig = raw["signature"]
        ts = raw.get("timestamp")
        message = self.template(raw["message"], at + ("message",), MESSAGE_NAMES, prefixes=("header",))
        if "timestamp" in message.names and not (ts and ts.get("header")):
            self.issue(at + ("message",), "template.unknown_placeholder",
                       "{timestamp} needs a timestamp check with a header")
        if ts and not ts.get("header"):
            self.issue(at + ("timestamp",), "verify.timestamp_source", "timestamp needs a header to read it from")
        key = self.template(raw["public_key"], at + ("public_key",), frozenset())
        if not key.names:
            self.issue(at + ("public_key",), "verify.public_key_source",
                       "the public key comes from the environment or a stored secret: "
                       "write {env:NAME} or {secret:NAME}")
        if sig.get("format") == "raw" and raw["algorithm"] != "ecdsa_p256_sha256":
            self.issue(at + ("signature", "format"), "verify.signature_format",
                       "format: raw is for ECDSA signatures (r||s); the other algorithms have one format")
        return m.VerifySignature(
            algorithm=raw["algorithm"], public_key=key, message=message, signature_header=sig["header"],
            encoding=sig.get("encoding", "base64"), format=sig.get("format", "der"),
            prefix=sig.get("prefix", ""),
            timestamp=m.TimestampCheck(unit=ts["unit"], tolerance_s=ts["tolerance_s"], header=ts.get("header"))
            if ts else None,
        )

    def ack(self, raw: Mapping[str, Any] | None, at: Path) -> m.Ack:
        if not raw:
            return m.Ack()
        return m.Ack(**{kind: self.ack_answer(raw[kind], at + (kind,)) for kind in ("accepted", "refused")
                        if kind in raw})

    def ack_answer(self, raw: Mapping[str, Any], at: Path) -> m.AckAnswer:
        status = raw["status"]
        body = None
        if "body" in raw:
            if status == 204:
                self.issue(at + ("body",), "ack.body_on_204", "a 204 No Content answer carries no body")
            body = json.dumps(raw["body"], ensure_ascii=False, separators=(",", ":")).encode()
        headers = []
        for name, value in (raw.get("headers") or {}).items():
            if not _TOKEN.fullmatch(name) or name.lower() in _ENGINE_HEADERS:
                self.issue(at + ("headers", name), "ack.header_name",
                           f"{name!r} cannot be declared: a header name is a token, and "
                           + ", ".join(sorted(_ENGINE_HEADERS)) + " are set by the engine")
            elif not (value.isascii() and value.isprintable()):
                self.issue(at + ("headers", name), "ack.header_value", "a header value is printable ASCII")
            else:
                headers.append((name, value))
        return m.AckAnswer(status=status, body=body, headers=tuple(headers))

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
            extractors.append(m.EventExtractor(event_type, **exprs, time_format=ev.get("time_format", "iso"),
                                               updates_reuse_id=ev.get("updates_reuse_id", False)))
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
            ack=self.ack(raw.get("ack"), at + ("ack",)),
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
