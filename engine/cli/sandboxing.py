"""Running the engine against the shipped sandbox vendors: which vendors can be sandboxed, and
the environment that points the shipped specs at them (through the specs' own base-URL and
credential variables: no spec is copied or edited)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from engine.spec.document import DocumentError, env_references, read_document
from engine.spec.model import Spec
from sandbox.profiles import PROFILES

if TYPE_CHECKING:
    from sandbox.server import RunningSim

class SandboxError(ValueError):
    """A vendor that cannot be sandboxed; the message names it."""


def sandbox_vendors(specs: Mapping[str, Spec], wanted: Iterable[str] | None = None) -> list[str]:
    """The live (not retired) loaded vendors that have a sandbox profile, or the `wanted` ones,
    checked."""
    live = [vendor for vendor, spec in sorted(specs.items())
            if vendor in PROFILES and spec.status != "retired"]
    if wanted is None:
        return live
    chosen = list(dict.fromkeys(wanted))
    for vendor in chosen:
        if vendor not in specs:
            raise SandboxError(f"unknown vendor {vendor!r}; loaded: {', '.join(sorted(specs))}")
        if vendor not in live:
            reason = "it is retired" if vendor in PROFILES else "the sandbox has no such vendor"
            raise SandboxError(f"vendor {vendor!r} cannot be sandboxed: {reason}; sandbox vendors: "
                               f"{', '.join(live)}")
    return chosen


def sandbox_env(sim: RunningSim, spec_paths: Iterable[Path]) -> dict[str, str]:
    """Variables that point the shipped specs at the running sandbox (its own published set),
    and a fresh random value for every other variable a spec needs that has no default (a webhook
    verification token, a project id: whatever the engine sends, the sandbox echoes)."""
    env = {**sim.env(), "ENGINE_OUTBOUND_ALLOW_PRIVATE": "1"}  # sandbox and receivers are on loopback
    for path in spec_paths:
        try:
            references, _issues = env_references(read_document(path))
        except DocumentError:
            continue  # the engine reports a spec it cannot read when it loads it
        for reference in references:
            if not reference.has_default and reference.name not in env:
                env[reference.name] = secrets.token_urlsafe(16)
    return env


def subscriber_url(sim: RunningSim, vendor: str, public_url: str) -> str:
    """Where the sandbox vendor delivers: the callback the engine subscribed with, else the
    engine's webhook route (vendors configured in a developer portal)."""
    for subscription in sim.state.subscriptions.get(vendor, []):
        for key in ("callback_url", "url", "callbackUrl"):
            if isinstance(subscription.get(key), str):
                return str(subscription[key])
    return f"{public_url.rstrip('/')}/v1/webhooks/{vendor}"
