"""``engine map SPEC RESOURCE [PAYLOAD|-] [--as list|get] [--user-id U]``.

Maps one vendor response to Synheart samples and prints them as JSON Lines on stdout; every
dropped value or skipped sample is reported on stderr. Exit 0 on success, 1 when the payload
cannot be read, 2 on a usage problem (bad arguments, a spec that does not load, unknown resource).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from engine.mapping.compiler import compile_resource_mapper, page_records
from engine.mapping.result import MappingError, PayloadError
from engine.spec.errors import SpecError
from engine.spec.loader import load_spec
from engine.spec.model import Spec

EXIT_OK, EXIT_PAYLOAD, EXIT_USAGE = 0, 1, 2
DEFAULT_USER_ID = "user"
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "map", help="map a vendor response to Synheart samples (JSON Lines)",
        description="Map a vendor response (a list page or one record) of RESOURCE to Synheart "
        "samples, one JSON object per line. Warnings go to stderr. Exit 0 on success, 1 when "
        "the payload cannot be read, 2 on usage errors.")
    parser.add_argument("spec", metavar="SPEC", help="vendor spec file")
    parser.add_argument("resource", metavar="RESOURCE", help="resource name in the spec")
    parser.add_argument("payload", metavar="PAYLOAD", nargs="?", default="-",
                        help="JSON file with the vendor response, or - for stdin (default)")
    parser.add_argument("--as", dest="as_", choices=("list", "get"),
                        help="read the payload as a list page or as one record "
                        "(default: a list page when the resource's records path yields an array)")
    parser.add_argument("--user-id", default=DEFAULT_USER_ID,
                        help=f"user id written into each sample (default: {DEFAULT_USER_ID})")
    parser.set_defaults(handler=run_map)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _read_payload(source: str, stdin: TextIO) -> Any:
    try:
        if source == "-":
            text = stdin.read(MAX_PAYLOAD_BYTES + 1)
        else:
            with open(source, encoding="utf-8") as handle:
                text = handle.read(MAX_PAYLOAD_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise PayloadError(f"cannot read {source}: {exc}") from None
    if len(text) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"{source} is larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"{source} is not JSON: {exc}") from None


def _load(path: str) -> Spec:
    try:
        return load_spec(path)
    except SpecError as exc:
        details = "; ".join(getattr(i, "message", str(i)) for i in exc.issues[:3])
        raise MappingError(f"{path}: spec does not load: {details or exc}") from None


def run_map(args: argparse.Namespace, stdin: TextIO | None = None,
            stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    try:
        spec = _load(args.spec)
        mapper = compile_resource_mapper(spec, args.resource)
    except MappingError as exc:
        print(f"engine map: error: {exc}", file=stderr)
        return EXIT_USAGE
    try:
        payload = _read_payload(args.payload, stdin)
        records = page_records(spec.resources[args.resource], payload, args.as_)
    except PayloadError as exc:
        print(f"engine map: error: {exc}", file=stderr)
        return EXIT_PAYLOAD
    endpoint = spec.resources[args.resource].list
    listed = endpoint.records.search(payload) if endpoint is not None else None
    if args.as_ == "get" and endpoint is not None and isinstance(listed, list):
        print(f"engine map: error: --as get, but this is a list page of {args.resource}: "
              f"{endpoint.records.text!r} holds {len(listed)} record(s); drop --as get", file=stderr)
        return EXIT_PAYLOAD
    result = mapper.map_records(records, args.user_id)
    for sample in result.samples:
        stdout.write(json.dumps(sample, ensure_ascii=False, separators=(",", ":")) + "\n")
    for warning in result.warnings:
        print(f"engine map: warning: {warning}", file=stderr)
    if not result.samples:
        print(f"engine map: {_why_no_samples(args, endpoint, listed, records, result.warnings)}", file=stderr)
    return EXIT_OK


def _why_no_samples(args: argparse.Namespace, endpoint: Any, listed: Any, records: list[Any],
                    warnings: list[Any]) -> str:
    """What to tell someone who got no output: which of the usual reasons it was."""
    if not records:
        return "no samples: the page holds no records"
    if args.as_ is None and endpoint is not None and not isinstance(listed, list):
        return (f"no samples: {endpoint.records.text!r} finds no array in the payload, so it was read "
                f"as one {args.resource} record; if it is a list page, its records are elsewhere")
    if warnings:
        return f"no samples from {len(records)} record(s); every value was dropped (warnings above)"
    return (f"no samples from {len(records)} record(s): no sample mapping's `when` holds for any "
            "of them")

