"""`engine sync VENDOR USER --since DATE`: plan a backfill and run it inline until it is done.

The store is opened directly (same configuration as `engine serve`); the windows are queued like
any other sync, so an `engine worker` running elsewhere may take some of them; this process works
until every window of its sync is done, drawing progress on stderr. Exit 0 when every window was
stored, 1 when any failed (the last error is printed) or the sync cannot start, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from datetime import UTC, date, datetime
from typing import TextIO

from engine.engine import Engine
from engine.errors import EngineError
from engine.jobs import JobKind
from engine.logs import LOG_FORMATS, configure_logging
from engine.spec.model import MAX_SYNC_WINDOWS
from engine.store.port import Sync
from engine.worker.runner import WorkerConfig

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
IDLE_WAIT_S = 0.5  # nothing claimable: wait this long (other workers, retry backoff) before asking again
BAR_WIDTH = 28


class UsageError(ValueError):
    pass


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sync", help="backfill one connection from the command line, with a progress bar",
        description="Plan windows per resource within the vendor's history horizon, queue them and "
        "run them in this process until the sync is done. A start older than a resource's horizon "
        "(the spec's `horizon`, two years when it names none) is clamped to it, and said so; one "
        f"sync queues at most {MAX_SYNC_WINDOWS} windows. Store and vendors come from the same environment as "
        "`engine serve`.")
    parser.add_argument("vendor", metavar="VENDOR", help="vendor id (a spec id in the vendors directory)")
    parser.add_argument("user", metavar="USER", help="the app's user id of the connection")
    parser.add_argument("--since", required=True, metavar="DATE",
                        help="start: YYYY-MM-DD (UTC midnight) or an ISO 8601 time with an offset")
    parser.add_argument("--until", metavar="DATE", default=None, help="end (default now), same formats")
    parser.add_argument("--resources", metavar="A,B", default=None,
                        help="only these resources (comma-separated; default every listable one)")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                        help="format of warnings logged while syncing (default text)")
    parser.set_defaults(handler=run_sync)


def parse_instant(text: str, name: str) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    except ValueError:
        raise UsageError(f"--{name} {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise UsageError(f"--{name} {text!r} needs a UTC offset (e.g. Z or +02:00)")
    return parsed.astimezone(UTC)


def run_sync(args: argparse.Namespace) -> int:
    try:
        since = parse_instant(args.since, "since")
        until = parse_instant(args.until, "until") if args.until else None
    except UsageError as error:
        print(f"engine sync: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    resources = [r.strip() for r in (args.resources or "").split(",") if r.strip()] or None
    configure_logging(args.log_format, logging.WARNING)
    try:
        return asyncio.run(_sync(args.vendor, args.user, since, until, resources, Progress(sys.stderr)))
    except KeyboardInterrupt:
        print("\nengine sync: interrupted; queued windows stay queued for any `engine worker`",
              file=sys.stderr)
        return 130


async def _sync(vendor: str, user: str, since: datetime, until: datetime | None,
                resources: list[str] | None, progress: Progress) -> int:
    try:
        engine = await Engine.from_env().open()
    except EngineError as error:
        print(f"engine sync: error: {error.message}", file=sys.stderr)
        return EXIT_FAILED
    try:
        try:
            plan = await engine.sync.plan(vendor, user, since=since, until=until, resources=resources)
        except EngineError as error:
            print(f"engine sync: error: {error.message}", file=sys.stderr)
            return EXIT_FAILED
        sync = plan.sync
        windows = ", ".join(f"{name} {count}" for name, count in plan.windows.items()) or "none"
        print(f"engine sync: {sync.sync_id}: {sync.windows_total} window(s) ({windows}) "
              f"until {plan.until.isoformat(timespec='seconds')}", file=sys.stderr)
        if sync.clipped_note:  # the range was clamped to the vendor's history horizon
            print(f"engine sync: clamped: {sync.clipped_note}", file=sys.stderr)
        sync = await _work_until_done(engine, sync, progress)
    finally:
        await engine.close()
    progress.finish(sync)
    if sync.errors:
        print(f"engine sync: failed: {sync.errors} of {sync.windows_total} window(s) could not be stored; "
              f"last error: {sync.last_error or 'unknown'}", file=sys.stderr)
        return EXIT_FAILED
    print(f"engine sync: done: {sync.windows_done} window(s), {sync.records} record(s)", file=sys.stderr)
    return EXIT_OK


async def _work_until_done(engine, sync: Sync, progress: Progress) -> Sync:
    worker = engine.worker(WorkerConfig(kinds=(JobKind.SYNC_WINDOW,), backoff_base_s=1.0, backoff_cap_s=30.0))
    while True:
        current = await engine.store.get_sync(sync.sync_id)
        if current is None:  # removed meanwhile (the user's data was deleted)
            return sync
        sync = current
        progress.show(sync)
        if sync.finished:
            return sync
        if not await worker.run_once():
            await asyncio.sleep(IDLE_WAIT_S)


class Progress:
    """A one-line bar redrawn in place on a terminal; on anything else, a line per change."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.redraw = bool(getattr(stream, "isatty", lambda: False)())
        self._last: tuple[int, int, int] | None = None
        self._last_at = 0.0

    def line(self, sync: Sync) -> str:
        total = max(sync.windows_total, 1)
        filled = BAR_WIDTH * min(sync.windows_done, total) // total
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        errors = f", {sync.errors} failed" if sync.errors else ""
        return f"[{bar}] {sync.windows_done}/{sync.windows_total} windows, {sync.records} records{errors}"

    def show(self, sync: Sync) -> None:
        state = (sync.windows_done, sync.records, sync.errors)
        now = time.monotonic()
        if state == self._last and (not self.redraw or now - self._last_at < 1.0):
            return
        self._last, self._last_at = state, now
        if self.redraw:
            self.stream.write("\r" + self.line(sync))
        else:
            self.stream.write(self.line(sync) + "\n")
        self.stream.flush()

    def finish(self, sync: Sync) -> None:
        if self.redraw:
            self.stream.write("\r" + self.line(sync) + "\n")
            self.stream.flush()
