"""Command-line commands about specs: ``engine validate`` and ``engine schema``."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from engine.spec.catalogue import load_json_schema
from engine.spec.document import LocatedIssue, read_document
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


def _check_one(path: Path, *, check_env: bool) -> Report:
    """``check_file``, and should it ever raise, the failure as an issue of that file (so the
    JSON output is still a list of located issues)."""
    try:
        return check_file(path, check_env=check_env)
    except Exception as exc:  # noqa: BLE001 -- a checker bug reads as a clean, located error
        issue = LocatedIssue((), "internal.error", f"internal error while checking: {type(exc).__name__}",
                             None, str(path), 1, 1)
        return Report(str(path), [issue])


def _check_paths(paths: list[str], *, check_env: bool) -> list[Report]:
    reports: list[Report] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            reports.append(_check_one(path, check_env=check_env))
            continue
        found = spec_files(path)
        if not found:
            issue = LocatedIssue((), "io.no_specs", f"no {' or '.join(SPEC_SUFFIXES)} files in this folder",
                                 None, raw, 0, 0)
            reports.append(Report(raw, [issue], io_error=True))
        reports.extend(_check_one(file, check_env=check_env) for file in found)
    return reports


_UNSET = re.compile(r"environment variable (\S+) is not set")


def _duplicate_ids(reports: list[Report]) -> None:
    """The engine loads a set of specs, so the set is checked too: one id, one spec."""
    first: dict[str, str] = {}
    for report in reports:
        if report.spec is None:
            continue
        owner = first.setdefault(report.spec.id, report.path)
        if owner != report.path:
            line, col = read_document(report.path).locate(("id",))
            report.issues.append(LocatedIssue(
                ("id",), "spec.duplicate_id", f"id {report.spec.id!r} is already the id of {owner}; "
                "every spec the engine loads needs its own id", None, report.path, line, col))


def _print_text(reports: list[Report]) -> None:
    """Issues one per line; an unset environment variable once, with every place that needs it."""
    unset: dict[str, list[str]] = {}
    for report in reports:
        for issue in report.issues:
            if issue.code == "env.unset":
                match = _UNSET.match(issue.message)
                name = match.group(1) if match else issue.message
                unset.setdefault(name, []).append(f"{issue.file}:{issue.line}")
            else:
                print(format_text(issue))
    for name, places in unset.items():
        print(f"environment: {name} is not set; needed by {', '.join(places)} [env.unset]")
    invalid = sum(1 for report in reports if any(i.code != "env.unset" for i in report.issues))
    errors = sum(1 for report in reports for i in report.issues if i.code != "env.unset")
    summary = f"{len(reports)} spec(s) checked, {invalid} invalid, {errors} error(s)"
    if unset:
        summary += f", {len(unset)} environment variable(s) unset"
    print(summary, file=sys.stderr)


def run_validate(args: argparse.Namespace) -> int:
    reports = _check_paths(args.paths, check_env=args.check_env)
    _duplicate_ids(reports)
    issues = [issue for report in reports for issue in report.issues]
    if args.format == "json":
        print(json.dumps([to_json(issue) for issue in issues], indent=2, ensure_ascii=False))
    else:
        _print_text(reports)
    if any(report.io_error for report in reports):
        return 2
    return 1 if issues else 0


def run_schema(args: argparse.Namespace) -> int:
    print(json.dumps(load_json_schema(SPEC_SCHEMA), indent=2, ensure_ascii=False))
    return 0

