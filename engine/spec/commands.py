"""Command-line commands about specs: ``engine validate`` and ``engine schema``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.spec.catalogue import load_json_schema
from engine.spec.loader import SPEC_SUFFIXES, spec_files
from engine.spec.validate import SPEC_SCHEMA, Report, check_file, format_text, to_json


def register(subparsers: argparse._SubParsersAction) -> None:
    validate = subparsers.add_parser(
        "validate", help="check vendor specs", description="Check vendor spec files: structure, "
        "expressions, templates, routes, sample types and units. Exit 0 when all are valid, "
        "1 when any is invalid, 2 when a file cannot be read.")
    validate.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders of specs")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.add_argument("--check-env", action="store_true",
                          help="also report environment variables the specs use but are unset")
    validate.set_defaults(handler=run_validate)

    schema = subparsers.add_parser("schema", help="print the vendor spec JSON Schema")
    schema.set_defaults(handler=run_schema)


def _expand(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(spec_files(path))
        else:
            files.append(path)
    return files


def run_validate(args: argparse.Namespace) -> int:
    reports: list[Report] = []
    for path in _expand(args.paths):
        reports.append(check_file(path, check_env=args.check_env))
    issues = [issue for report in reports for issue in report.issues]
    if args.format == "json":
        print(json.dumps([to_json(issue) for issue in issues], indent=2, ensure_ascii=False))
    else:
        for issue in issues:
            print(format_text(issue))
        invalid = sum(1 for report in reports if not report.ok)
        summary = f"{len(reports)} spec(s) checked, {invalid} invalid, {len(issues)} error(s)"
        print(summary, file=sys.stderr)
    if any(report.io_error for report in reports):
        return 2
    return 1 if issues else 0


def run_schema(args: argparse.Namespace) -> int:
    print(json.dumps(load_json_schema(SPEC_SCHEMA), indent=2, ensure_ascii=False))
    return 0


__all__ = ["SPEC_SUFFIXES", "register"]
