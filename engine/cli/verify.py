"""`engine verify SPEC --body FILE --header 'Name: value' ...`: why is this webhook refused?"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from engine.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from engine.engine import ConfigError, Engine, Settings
from engine.spec.document import DocumentError, read_document
from engine.spec.errors import SpecError
from engine.spec.loader import load_spec
from engine.spec.model import Spec
from engine.store.errors import StoreError
from engine.troubleshoot.explain import Explanation, explain
from engine.webhooks.keys import SecretSource

MAX_BODY_BYTES = 64 * 1024 * 1024


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify", help="explain whether and why a webhook delivery passes verification",
        description="Check a delivery (body + headers) against the spec's webhook verification and "
        "explain it: the secret variables used (never their values), the exact bytes signed, "
        "expected vs received signatures and the timestamp skew. Exit 0 when the delivery is "
        "authentic, 1 when it is refused, 2 on usage errors.")
    parser.add_argument("spec", help="vendor spec file")
    parser.add_argument("--body", required=True, metavar="FILE", help="the raw body, - for stdin")
    parser.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="a header of the delivery (repeatable)")
    parser.add_argument("--secret", action="append", default=[], metavar="NAME=VALUE",
                        help="value of a {secret:NAME} placeholder (default: read from the store)")
    parser.add_argument("--now", type=float, default=None, metavar="EPOCH_S",
                        help="check as if the current time were this (epoch seconds)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    headers: dict[str, str] = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            print(f"engine verify: error: --header {item!r} is not 'Name: value'", file=sys.stderr)
            return EXIT_USAGE
        headers[name.strip()] = value.strip()
    try:
        spec = load_spec(args.spec)
        raw_auth = read_document(args.spec).data.get("auth") or {}
    except (SpecError, DocumentError) as error:
        print(f"engine verify: error: the spec does not load:\n{error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"engine verify: error: cannot read {args.spec}: {error.strerror}", file=sys.stderr)
        return EXIT_USAGE
    if spec.webhooks is None:
        print(f"engine verify: error: {spec.id} declares no webhooks", file=sys.stderr)
        return EXIT_USAGE
    try:
        body = _read_body(args.body)
    except OSError as error:
        print(f"engine verify: error: cannot read {args.body}: {error.strerror}", file=sys.stderr)
        return EXIT_USAGE
    stored = dict(item.split("=", 1) for item in args.secret if "=" in item)
    if not stored and _needs_stored_secrets(spec):
        try:
            stored = asyncio.run(_stored_secrets(spec))
        except ConfigError as error:
            print(f"engine verify: warning: cannot read stored secrets: {error.message}", file=sys.stderr)
        except StoreError as error:
            print(f"engine verify: warning: cannot read stored secrets ({type(error).__name__})", file=sys.stderr)
    now = time.time() if args.now is None else args.now
    result = explain(spec, raw_auth, body, headers, SecretSource.for_spec(spec, stored=stored), now)
    if args.format == "json":
        print(json.dumps(_as_json(spec, result), indent=2))
    else:
        print(render(spec, result))
    return EXIT_OK if result.ok else EXIT_FAILED


def _read_body(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read(MAX_BODY_BYTES)
    return Path(name).read_bytes()


def _needs_stored_secrets(spec: Spec) -> bool:
    verify = spec.webhooks.verify if spec.webhooks else None
    template = getattr(verify, "key", None) or getattr(verify, "value", None)
    return template is not None and any(n.startswith("secret:") for n in template.names)


async def _stored_secrets(spec: Spec) -> dict[str, str]:
    """What the vendor's subscription answers stored, from the store `engine serve` uses."""
    async with Engine(Settings.from_env(), specs={spec.id: spec}) as engine:
        return await engine.store.get_app_secrets(spec.id)


def render(spec: Spec, result: Explanation) -> str:
    lines = [f"vendor     {spec.id}", f"scheme     {result.scheme}"]
    for source in result.secret_sources:
        lines.append(f"secret     {source}")
    if result.message_template is not None:
        lines.append(f"message    {result.message_template}")
    if result.message is not None:
        lines.append(f"signed     {len(result.message)} bytes: {_show_bytes(result.message)}")
    if result.timestamp is not None:
        lines.append("timestamp  " + _timestamp_line(result.timestamp))
    for text in result.received:
        lines.append(f"received   {text}")
    for key in result.keys:
        mark = "MATCHES" if key.matches else "differs"
        shown = f"{key.expected}  " if key.expected is not None else ""
        lines.append(f"expected   {key.label}: {shown}{mark}")
    for problem in result.problems:
        lines.append(f"problem    {problem}")
    if result.ok:
        lines.append("verdict    OK: the engine accepts this delivery")
    else:
        lines.append(f"verdict    REFUSED ({result.verdict_status}): {result.verdict}")
    return "\n".join(lines)


def _timestamp_line(info: dict[str, Any]) -> str:
    if info.get("value") is None:
        return f"missing (unit {info['unit']}, tolerance ±{info['tolerance_s']}s)"
    if "skew_s" not in info:
        return f"{info['value']!r} is not a number"
    skew = info["skew_s"]
    age = f"{abs(skew):.0f}s {'old' if skew >= 0 else 'in the future'}"
    state = "within" if info["within_tolerance"] else "OUTSIDE"
    return (f"{info['value']} ({info['unit']}), now {info['now']:.0f}: {age}, "
            f"{state} the tolerance of ±{info['tolerance_s']}s")


def _show_bytes(data: bytes, limit: int = 4096) -> str:
    shown = repr(data[:limit])
    return shown + (f" … ({len(data) - limit} more bytes)" if len(data) > limit else "")


def _as_json(spec: Spec, result: Explanation) -> dict[str, Any]:
    return {
        "vendor": spec.id,
        "ok": result.ok,
        "status": result.verdict_status,
        "verdict": result.verdict,
        "scheme": result.scheme,
        "secret_sources": result.secret_sources,
        "message_template": result.message_template,
        "signed_message": None if result.message is None else result.message.decode("latin-1"),
        "signed_bytes": None if result.message is None else len(result.message),
        "timestamp": result.timestamp,
        "received": result.received,
        "keys": [{"key": k.label, "expected": k.expected, "matches": k.matches} for k in result.keys],
        "problems": result.problems,
    }
