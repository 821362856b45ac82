"""`engine new VENDOR`: scaffold `vendors/<id>.yaml` and `vendors/<id>/fixtures/`."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from engine.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from engine.spec.catalogue import schema_path
from engine.testing.contract import run_contract
from engine.troubleshoot.scaffold import EXAMPLE_EVENTS, EXAMPLE_PAGE, SPEC_TEMPLATE

_ID = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "new", help="scaffold a commented vendor spec and its fixtures folder",
        description="Write DIR/<id>.yaml (a commented spec that validates once <ID>_CLIENT_ID and "
        "<ID>_CLIENT_SECRET are set) and DIR/<id>/fixtures/ with an example page and its "
        "expected samples. Never overwrites an existing file.")
    parser.add_argument("vendor", metavar="VENDOR", help="vendor id: lower case, digits, _ (2-32 chars)")
    parser.add_argument("--name", default=None, help="display name (default: the id, capitalised)")
    parser.add_argument("--dir", default="vendors", help="specs folder (default ./vendors)")
    parser.set_defaults(handler=run_new)


def run_new(args: argparse.Namespace) -> int:
    vendor = args.vendor
    if not _ID.match(vendor):
        print(f"engine new: error: {vendor!r} is not a vendor id: start with a letter, then lower-case "
              "letters, digits or _, 2 to 32 characters", file=sys.stderr)
        return EXIT_USAGE
    folder = Path(args.dir)
    spec_path = folder / f"{vendor}.yaml"
    fixtures = folder / vendor / "fixtures"
    if spec_path.exists():
        print(f"engine new: error: {spec_path} already exists; not overwriting it", file=sys.stderr)
        return EXIT_FAILED
    name = args.name or vendor.replace("_", " ").title()
    env_prefix = vendor.upper()
    schema = os.path.relpath(schema_path("vendor-spec.schema.json"), folder.resolve())
    text = SPEC_TEMPLATE.format(id=vendor, name=json.dumps(name) if ":" in name else name,
                                env=env_prefix, schema=Path(schema).as_posix(), spec_path=spec_path.as_posix())
    try:
        fixtures.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(text, encoding="utf-8")
        _write_new(fixtures / "sleep.list.json", EXAMPLE_PAGE)
        _write_new(fixtures / "webhook.sleep.json", EXAMPLE_EVENTS)
    except OSError as error:
        print(f"engine new: error: cannot write {error.filename}: {error.strerror}", file=sys.stderr)
        return EXIT_FAILED
    # The expected outputs are recorded from the example fixtures, as `engine test --update` does.
    report = run_contract(spec_path, update=True)
    print(f"wrote {spec_path}")
    written = ", ".join(sorted(p.name for p in fixtures.iterdir()))
    print(f"wrote {fixtures}/ ({written})" + ("" if report.ok else " — engine test reports problems"))
    print("next:")
    print(f"  export {env_prefix}_CLIENT_ID=... {env_prefix}_CLIENT_SECRET=... {env_prefix}_WEBHOOK_SECRET=...")
    print(f"  engine validate {spec_path}")
    print(f"  engine map {spec_path} sleep {fixtures}/sleep.list.json")
    print(f"  engine test {spec_path}")
    return EXIT_OK


def _write_new(path: Path, text: str) -> None:
    if not path.exists():
        path.write_text(text, encoding="utf-8")
