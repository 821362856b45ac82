"""`engine new VENDOR`: scaffold `vendors/<id>.yaml` and `vendors/<id>/fixtures/`."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from engine.mapping.compiler import compile_resource_mapper, page_records
from engine.spec.catalogue import schema_path
from engine.spec.errors import SpecError
from engine.spec.loader import load_spec
from engine.troubleshoot.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from engine.troubleshoot.scaffold import EXAMPLE_PAGE, FIXTURES_README, SPEC_TEMPLATE

_ID = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
FIXTURE_USER = "app-user-1"


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
        _write_new(fixtures / "README.md", FIXTURES_README)
        _write_new(fixtures / "sleep.list.json", EXAMPLE_PAGE)
        expected = _expected_samples(spec_path, env_prefix)
        if expected is not None:
            _write_new(fixtures / "sleep.list.expected.jsonl", expected)
    except OSError as error:
        print(f"engine new: error: cannot write {error.filename}: {error.strerror}", file=sys.stderr)
        return EXIT_FAILED
    print(f"wrote {spec_path}")
    print(f"wrote {fixtures}/ (README.md, sleep.list.json, sleep.list.expected.jsonl)")
    print("next:")
    print(f"  export {env_prefix}_CLIENT_ID=... {env_prefix}_CLIENT_SECRET=... {env_prefix}_WEBHOOK_SECRET=...")
    print(f"  engine validate {spec_path}")
    print(f"  engine map {spec_path} sleep {fixtures}/sleep.list.json")
    return EXIT_OK


def _write_new(path: Path, text: str) -> None:
    if not path.exists():
        path.write_text(text, encoding="utf-8")


def _expected_samples(spec_path: Path, env_prefix: str) -> str | None:
    """The example page mapped by the new spec (placeholder credentials only load it)."""
    env = {f"{env_prefix}_CLIENT_ID": "scaffold", f"{env_prefix}_CLIENT_SECRET": "scaffold"}
    try:
        spec = load_spec(spec_path, env=env)
    except SpecError:
        return None
    mapper = compile_resource_mapper(spec, "sleep")
    result = mapper.map_records(page_records(spec.resources["sleep"], json.loads(EXAMPLE_PAGE)), FIXTURE_USER)
    return "".join(json.dumps(s, separators=(",", ":"), ensure_ascii=False) + "\n" for s in result.samples)
