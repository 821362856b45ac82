"""`engine remap VENDOR [--user U] [--since D] [--resources r,…] [--dry-run]`: re-derive stored
samples from the raw archive with the spec as it is now, without a vendor call."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime

from engine.archive.remap import Remapper, RemapReport
from engine.cli.common import EXIT_FAILED, EXIT_OK, add_engine_options, run_with_engine
from engine.engine import Engine


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "remap", help="re-run the current mappings over archived raw records",
        description="Map the archived raw records of VENDOR again with the spec as loaded now and "
        "apply the differences to the stored samples (added, changed, removed) in batches, "
        "resuming an interrupted run. --dry-run prints what would change and writes nothing. "
        "Samples with no archived raw record are reported as not remappable and left alone.")
    parser.add_argument("vendor")
    parser.add_argument("--user", default=None, help="only this app user")
    parser.add_argument("--since", default=None, help="only samples from this date or RFC 3339 time on")
    parser.add_argument("--resources", default=None, help="comma-separated resource names")
    parser.add_argument("--dry-run", action="store_true", help="report the changes, write nothing")
    parser.add_argument("--batch", type=int, default=2000, help="records per transaction")
    add_engine_options(parser)
    parser.set_defaults(handler=run_remap)


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _bar(done: int, total: int) -> None:
    width = 30
    filled = width if total == 0 else min(width, done * width // total)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} records")
    sys.stderr.flush()


def summary(report: RemapReport) -> str:
    c = report.counts
    verb = "would change" if report.dry_run else "changed"
    lines = [f"{report.vendor}: {c['records']} raw records; {verb}: {c['added']} added, "
             f"{c['changed']} changed, {c['removed']} removed ({c['unchanged']} unchanged, "
             f"{c['restamped']} from an older mapping with the same values)",
             f"not remappable (no raw record): {report.not_remappable} samples"]
    for example in report.examples:
        fields = ", ".join(f"{k}: {b!r} -> {a!r}" for k, (b, a) in example.fields.items())
        lines.append(f"  {example.sample_type} {example.dedup_id}: {fields}")
    if report.resumed:
        lines.append(f"resumed run {report.run_id}")
    return "\n".join(lines)


def run_remap(args: argparse.Namespace) -> int:
    try:
        since = _since(args.since)
    except ValueError:
        print(f"engine remap: error: --since {args.since!r} is not a date or RFC 3339 time", file=sys.stderr)
        return EXIT_FAILED
    resources = [r.strip() for r in (args.resources or "").split(",") if r.strip()] or None

    async def body(engine: Engine) -> int:
        spec = engine.spec(args.vendor)
        progress = _bar if args.format == "text" and sys.stderr.isatty() else None
        remapper = Remapper(engine.store, spec, batch=max(1, args.batch), progress=progress)
        try:
            report = await remapper.run(user_id=args.user, since=since, resources=resources,
                                        dry_run=args.dry_run)
        except ValueError as error:
            print(f"engine remap: error: {error}", file=sys.stderr)
            return EXIT_FAILED
        if progress is not None:
            sys.stderr.write("\n")
        print(json.dumps(report.as_dict(), indent=2) if args.format == "json" else summary(report))
        return EXIT_OK

    return run_with_engine("remap", args, body)
