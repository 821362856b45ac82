"""The spec compiler's primitives: collecting issues, compiling expressions, templates, URLs,
secret references and requests. The block compilers (`compile_webhooks`, `compile`) build on them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from engine.spec import model as m
from engine.spec.env import EnvSyntaxError, interpolate, is_single_reference
from engine.spec.errors import SpecIssue, closest
from engine.spec.expr import Expr, ExprError
from engine.spec.template import Template, TemplateError

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


def duration_seconds(text: str) -> int:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"bad duration {text!r}")
    return max(1, int(int(match.group(1)) * _UNIT_SECONDS[match.group(2)]))


class CompilerBase:
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
