"""`engine sign SPEC`: print the headers the vendor would send with a body, for local testing."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from engine.spec.errors import SpecError
from engine.spec.loader import load_spec
from engine.webhooks.keys import SecretNotConfigured, SecretSource
from engine.webhooks.message import MessageError
from engine.webhooks.sign import sign_headers


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sign", help="print the headers a vendor would send with a webhook body",
        description="Sign a webhook body the way the spec's vendor does, using the secrets in the "
        "environment, and print the headers (or a curl command with --url).")
    parser.add_argument("spec", help="path to the vendor spec (YAML)")
    parser.add_argument("--body", default="-", metavar="FILE", help="file with the body, - for stdin (default)")
    parser.add_argument("--timestamp", default=None, metavar="T",
                        help="timestamp to sign, in the spec's unit (default: now)")
    parser.add_argument("--header", action="append", default=[], metavar="NAME:VALUE",
                        help="another header of the delivery that the signature covers (repeatable)")
    parser.add_argument("--secret", action="append", default=[], metavar="NAME=VALUE",
                        help="value of a {secret:NAME} placeholder (repeatable)")
    parser.add_argument("--url", default=None, help="print a curl command posting the body to this URL")
    parser.set_defaults(handler=run_sign)


def run_sign(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(args.spec)
    except SpecError as error:
        print(f"engine sign: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"engine sign: cannot read {args.spec}: {error.strerror}", file=sys.stderr)
        return 1
    if spec.webhooks is None:
        print(f"engine sign: {spec.id} declares no webhooks", file=sys.stderr)
        return 1
    if args.timestamp is not None and not (args.timestamp.isascii() and args.timestamp.isdigit()):
        print("engine sign: --timestamp must be an integer", file=sys.stderr)
        return 2
    try:
        body = sys.stdin.buffer.read() if args.body == "-" else Path(args.body).read_bytes()
    except OSError as error:
        print(f"engine sign: cannot read {args.body}: {error.strerror}", file=sys.stderr)
        return 1
    stored = dict(item.split("=", 1) for item in args.secret if "=" in item)
    extra = dict(tuple(p.strip() for p in item.split(":", 1)) for item in args.header if ":" in item)
    try:
        headers = sign_headers(spec.webhooks.verify, body, SecretSource.for_spec(spec, stored=stored),
                               now=time.time(), timestamp=args.timestamp, headers=extra)
    except SecretNotConfigured as error:
        print(f"engine sign: {spec.id}: {error} (set it in the environment)", file=sys.stderr)
        return 1
    except MessageError as error:
        print(f"engine sign: {error}", file=sys.stderr)
        return 1
    headers = {**extra, **headers}
    if args.url:
        content_type = ("application/x-www-form-urlencoded" if spec.webhooks.body == "form"
                        else "application/json")
        parts = ["curl", "-sS", "-X", "POST", args.url, "-H", f"Content-Type: {content_type}"]
        for name, value in headers.items():
            parts += ["-H", f"{name}: {value}"]
        parts += ["--data-binary", "@-" if args.body == "-" else f"@{args.body}"]
        print(shlex.join(parts))
    else:
        for name, value in headers.items():
            print(f"{name}: {value}")
    return 0
