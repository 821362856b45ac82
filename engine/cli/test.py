"""`engine test SPEC... [--update]`: the offline contract test of vendor specs.

Exit 0 when every spec passes, 1 when any check fails, 2 when a path cannot be read."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.spec.loader import spec_files
from engine.testing.contract import ContractReport, run_contract

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "test", help="replay a spec's recorded fixtures (offline contract test)",
        description="For each spec: validate it, map every <resource>.<list|get>.json fixture, check "
        "the samples against the Synheart sample schema and diff them with the checked-in "
        "*.expected.jsonl; extract and route every webhook.<label>.json fixture and diff with "
        "*.expected.json. Fails when a resource with samples or an `on` event type has no fixture. "
        "Exit 0 when all pass, 1 on any failure, 2 when a path cannot be read.")
    parser.add_argument("paths", nargs="+", metavar="SPEC", help="spec files or folders of specs")
    parser.add_argument("--update", action="store_true",
                        help="rewrite the expected files from the current output")
    parser.add_argument("--quiet", action="store_true", help="print failures and the summary only")
    parser.set_defaults(handler=run_test)


def _expand(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        found.extend(spec_files(path) if path.is_dir() else [path])
    return found


def _print(report: ContractReport, quiet: bool) -> None:
    print(report.spec_path)
    for check in report.checks:
        if quiet and check.status != "fail":
            continue
        detail = f": {check.detail}" if check.detail else ""
        print(f"  {_MARK[check.status]} {check.subject}{detail}")
    for path in report.updated:
        print(f"  updated {path}")
    verdict = "passed" if report.ok else f"FAILED ({len(report.failures)} failure(s))"
    print(f"  {report.spec_id or report.spec_path}: {len(report.resources_covered)} resource(s), "
          f"{len(report.events_covered)} event type(s) covered; {verdict}")


def run_test(args: argparse.Namespace) -> int:
    reports = [run_contract(path, update=args.update) for path in _expand(args.paths)]
    for report in reports:
        _print(report, args.quiet)
    failed = [r for r in reports if not r.ok]
    print(f"{len(reports)} spec(s) tested, {len(failed)} failed", file=sys.stderr)
    if any(r.io_error for r in reports):
        return EXIT_USAGE
    return EXIT_FAILED if failed else EXIT_OK
