"""Resolve a secret template (`{client_secret}`, `{env:NAME}`, `{secret:NAME}`) to candidate values.

A placeholder's value may be a comma-separated list: during a rotation both the old and the new
secret are valid at once, so every combination is a candidate. The first value of each list comes
first (it is the one a signer uses).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.spec.model import Spec, Webhooks
from engine.spec.template import Template

_MAX_CANDIDATES = 16  # a rotation needs two or three; cap the product so a typo cannot blow up


class SecretNotConfigured(LookupError):
    """A placeholder of the template has no value; the message names the placeholder only."""


@dataclass(frozen=True, slots=True)
class SecretSource:
    """Where placeholder values come from. `stored` holds `{secret:NAME}` values kept by the engine
    (for instance a signing key a vendor returned when a subscription was created)."""

    client_id: str = ""
    client_secret: str = ""
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    stored: Mapping[str, str] = field(default_factory=dict)
    # `candidates` per template, worked out once per source (a receiver keeps one source per spec)
    memo: dict[Template, list[str]] = field(default_factory=dict, compare=False, repr=False)
    # public keys parsed from candidate values, by value (an asymmetric verifier's)
    parsed: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def for_spec(
        cls, spec: Spec, *, env: Mapping[str, str] | None = None, stored: Mapping[str, str] | None = None
    ) -> SecretSource:
        return cls(
            client_id=spec.auth.client_id,
            client_secret=spec.auth.client_secret,
            env=os.environ if env is None else env,
            stored=stored or {},
        )

    def raw(self, name: str) -> str:
        if name == "client_secret":
            return self.client_secret
        if name == "client_id":
            return self.client_id
        if name.startswith("env:"):
            return self.env.get(name[4:], "")
        if name.startswith("secret:"):
            return self.stored.get(name[7:], "")
        return ""


def candidates(template: Template, source: SecretSource) -> list[str]:
    """Every value the template may take, first-listed first. Raises `SecretNotConfigured`."""
    known = source.memo.get(template)
    if known is not None:
        return known
    names = tuple(dict.fromkeys(template.names))
    choices: list[list[str]] = []
    for name in names:
        values = [v.strip() for v in source.raw(name).split(",") if v.strip()]
        if not values:
            raise SecretNotConfigured(f"no value for {{{name}}}")
        choices.append(values)
    results: list[str] = []
    for combo in itertools.product(*choices):
        results.append(template.render(dict(zip(names, combo, strict=True))))
        if len(results) >= _MAX_CANDIDATES:
            break
    found = source.memo[template] = list(dict.fromkeys(results))
    return found


def uses_stored_secrets(webhooks: Webhooks) -> bool:
    """Whether any secret template of the webhooks (verify key or value, handshake token or code)
    reads a `{secret:NAME}` the engine keeps in its store; when none does, there is nothing to load."""
    templates = [getattr(webhooks.verify, "key", None), getattr(webhooks.verify, "value", None),
                 getattr(webhooks.verify, "public_key", None)]
    for handshake in webhooks.handshakes:
        templates += [getattr(handshake, "token", None), getattr(handshake, "code", None)]
    return any(name.startswith("secret:") for t in templates if t is not None for name in t.names)
