"""How far a webhook delivery can be believed, derived from the spec's `verify` block.

A delivery is *authenticated* when it proves knowledge of a secret only the vendor and the engine
hold (an HMAC keyed with one, or a header or body field carrying one), or of the vendor's private key (an
asymmetric signature checked with its public key); *weak* when what it carries is public or
printed somewhere (a client id appears in every authorization URL; a literal is in the spec);
*unauthenticated* when nothing is checked. A spec may declare a weaker level, never a stronger one.

What a delivery may cause follows from its level: only an authenticated one may store what its
body says, delete or disconnect by itself; the others may only make the engine read from the
vendor with the user's own token (a route's `confirm` step says how).
"""

from __future__ import annotations

from typing import Literal

from engine.spec.model import (
    Verify,
    VerifyBodyEquals,
    VerifyHeaderEquals,
    VerifyHmac,
    VerifySignature,
)
from engine.spec.template import Template

TrustLevel = Literal["authenticated", "weak", "unauthenticated"]
LEVELS: tuple[TrustLevel, ...] = ("unauthenticated", "weak", "authenticated")
# Actions that act on the delivery's word alone; anything else only reads from the vendor.
ACTING_ACTIONS = frozenset({"ingest", "delete", "disconnect"})

# Placeholders whose values only the vendor and the engine know.
_SECRET_NAMES = frozenset({"client_secret"})
_SECRET_PREFIXES = ("env:", "secret:")


def is_secret_template(template: Template) -> bool:
    """Whether the template's value depends on a secret (`{client_secret}`, `{env:…}`,
    `{secret:…}`); literals and `{client_id}` are public."""
    return any(name in _SECRET_NAMES or name.startswith(_SECRET_PREFIXES) for name in template.names)


def derived_trust(verify: Verify) -> TrustLevel:
    if isinstance(verify, VerifyHmac):
        return "authenticated" if is_secret_template(verify.key) else "weak"
    if isinstance(verify, VerifyHeaderEquals | VerifyBodyEquals):
        return "authenticated" if is_secret_template(verify.value) else "weak"
    if isinstance(verify, VerifySignature):
        # The public key need not be secret: only the private key's holder can sign.
        return "authenticated"
    return "unauthenticated"


def weaker(a: TrustLevel, b: TrustLevel) -> TrustLevel:
    return a if LEVELS.index(a) <= LEVELS.index(b) else b


def is_authenticated(level: str) -> bool:
    return level == "authenticated"
