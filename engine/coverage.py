"""The coverage matrix generated from the specs (the `engine coverage` command prints it).

Two tables: vendor × sample type, and vendor × webhook verification scheme, acknowledgement,
handshake, pagination, PKCE, subscription lifecycle and time-zone source. `splice` replaces the
text between the `<!-- coverage:start -->` and `<!-- coverage:end -->` markers (appending them
when absent).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from engine.spec.catalogue import CATALOGUE
from engine.spec.compile_zones import mapping_local_times
from engine.spec.loader import load_spec, spec_files
from engine.spec.model import (
    Spec,
    VerifyBodyEquals,
    VerifyHeaderEquals,
    VerifyHmac,
    VerifySignature,
    ZoneSource,
)

START, END = "<!-- coverage:start -->", "<!-- coverage:end -->"
YES, NO = "✓", ""


def sample_types(spec: Spec) -> set[str]:
    return {m.type for r in spec.resources.values() for m in r.samples}


def verify_scheme(spec: Spec) -> str:
    if spec.webhooks is None:
        return "none (polling)"
    verify = spec.webhooks.verify
    if isinstance(verify, VerifyHmac):
        extra = " + timestamp" if verify.timestamp else ""
        return f"HMAC-{verify.algorithm.upper()} {verify.encoding}{extra}"
    if isinstance(verify, VerifyHeaderEquals):
        return f"header `{verify.header}`"
    if isinstance(verify, VerifyBodyEquals):
        return f"body field `{'.'.join(verify.path)}`"
    if isinstance(verify, VerifySignature):
        return f"signature {verify.algorithm}"
    return "unsigned"


def acknowledgement(spec: Spec) -> str:
    """How an accepted delivery is answered: the spec's `ack`, else the engine's 200 + JSON."""
    if spec.webhooks is None:
        return "—"
    accepted = spec.webhooks.ack.accepted
    if accepted is None:
        return "200 JSON"
    return f"{accepted.status}" + (" declared JSON" if accepted.body else "" if accepted.status == 204 else " JSON")


_ZONE_UNITS = {"seconds": "s", "minutes": "min", "milliseconds": "ms", "offset": "±hh:mm", "iana": "IANA"}


def _zone_source(source: ZoneSource) -> str:
    if source.kind == "app":
        return "app at connect"
    where = f"`{source.path.text}`" if source.path is not None else "?"
    unit = _ZONE_UNITS[source.format]
    if source.kind == "records":
        return f"{source.resource} {where} ({unit})"
    return f"{'profile' if source.request is not None else 'identity'} {where} ({unit})"


def time_zone_source(spec: Spec) -> str:
    """Where local times get their zone: offsets the records carry, then the connection's zone
    (the spec's `time_zone`, first source that answers). Without either, every time the spec
    reads has its own offset or is UTC."""
    mappings = [m for r in spec.resources.values() for m in r.samples]
    parts = ["record offset"] if any(m.tz_offset is not None for m in mappings) else []
    if spec.time_zone:
        parts.append("connection: " + " → ".join(_zone_source(s) for s in spec.time_zone))
    if not parts:
        return "in each time" if not any(mapping_local_times(m) for m in mappings) else "unknown"
    return "; ".join(parts)


def handshakes(spec: Spec) -> str:
    if spec.webhooks is None or not spec.webhooks.handshakes:
        return "—"
    return ", ".join(dict.fromkeys(h.type for h in spec.webhooks.handshakes))


def pagination(spec: Spec) -> str:
    kinds = []
    for resource in spec.resources.values():
        endpoint = resource.list
        if endpoint is None:
            continue
        if endpoint.accepted_status:
            kinds.append(f"async {endpoint.accepted_status}")
        elif endpoint.paginate.type != "none":
            kinds.append(endpoint.paginate.type)
        elif endpoint.window is not None:
            kinds.append("window")
    return ", ".join(sorted(set(kinds))) or "—"


def subscriptions(spec: Spec) -> str:
    parts = []
    if spec.subscriptions.subscribe:
        parts.append("per user")
    app = spec.subscriptions.app
    if app is not None:
        parts.append("app" + (" + renew" if app.renew is not None else "")
                     + (" + stored secret" if app.store_secrets else ""))
    return ", ".join(parts) or "—"


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render(specs: list[Spec]) -> str:
    specs = sorted(specs, key=lambda s: s.id)
    covered = {s.id: sample_types(s) for s in specs}
    types = [t for t in sorted(CATALOGUE.types) if any(t in c for c in covered.values())]
    lines = ["### Sample types per vendor", ""]
    lines += _table(["sample type", *[s.id for s in specs]],
                    ([f"`{t}`", *[YES if t in covered[s.id] else NO for s in specs]] for t in types))
    lines += ["", "### Webhooks, pagination, PKCE, subscriptions and time zones per vendor", ""]
    pkce = {"required": "required", "optional": "optional", False: "no"}
    lines += _table(["vendor", "webhook verification", "acknowledgement", "handshake", "pagination", "PKCE",
                     "subscriptions", "time zone source"],
                    ([s.id, verify_scheme(s), acknowledgement(s), handshakes(s), pagination(s), pkce[s.auth.pkce],
                      subscriptions(s), time_zone_source(s)] for s in specs))
    return "\n".join(lines) + "\n"


def load_all(directory: Path) -> list[Spec]:
    return [load_spec(path, env={}) for path in spec_files(directory)]


def splice(document: str, table: str) -> str:
    block = f"{START}\n<!-- generated by `engine coverage --write README.md`; do not edit by hand -->\n\n{table}\n{END}"
    start, end = document.find(START), document.find(END)
    if start == -1 or end == -1 or end < start:
        return document.rstrip("\n") + "\n\n" + block + "\n"
    return document[:start] + block + document[end + len(END):]
