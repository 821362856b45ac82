"""`engine sync VENDOR USER --since DATE`: plan a backfill and run it inline until it is done;
`engine sync --cancel SYNC_ID` stops one.

The store is opened directly (same configuration as `engine serve`); the windows are queued like
any other sync, so an `engine worker` running elsewhere may take some of them; this process runs
only its own sync's windows, drawing progress (with an ETA from the pace and the vendor's budgets)
on stderr. Ctrl-C finishes the running window and leaves the rest queued. Exit 0 when every window
was stored, 1 when any failed (the last error is printed) or the sync cannot start, 2 on bad
usage, 130 when interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
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
from engine.store.records import sync_job_key_prefix
from engine.worker.runner import WorkerConfig
from engine.worker.sync import seconds_left

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
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
    parser.add_argument("vendor", metavar="VENDOR", nargs="?",
                        help="vendor id (a spec id in the vendors directory)")
    parser.add_argument("user", metavar="USER", nargs="?", help="the app's user id of the connection")
    parser.add_argument("--since", metavar="DATE",
                        help="start: YYYY-MM-DD (UTC midnight) or an ISO 8601 time with an offset")
    parser.add_argument("--until", metavar="DATE", default=None, help="end (default now), same formats")
    parser.add_argument("--resources", metavar="A,B", default=None,
                        help="only these resources (comma-separated; default every listable one)")
    parser.add_argument("--replace", action="store_true",
                        help="repair after a corrected mapping: samples of the records read that their "
                        "current version no longer maps to are removed (only those records, only "
                        "these resources)")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                        help="format of warnings logged while syncing (default text; a repeated "
                        "warning is counted in the progress line, not printed again)")
    parser.add_argument("--cancel", metavar="SYNC_ID", default=None,
                        help="cancel a sync instead (this one's or one started through the API): its "
                        "queued windows are dropped, what was stored stays")
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
    if args.cancel is not None:
        return asyncio.run(_cancel(args.cancel))
    try:
        if not (args.vendor and args.user and args.since):
            raise UsageError("VENDOR, USER and --since are required (or --cancel SYNC_ID)")
        since = parse_instant(args.since, "since")
        until = parse_instant(args.until, "until") if args.until else None
    except UsageError as error:
        print(f"engine sync: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    resources = [r.strip() for r in (args.resources or "").split(",") if r.strip()] or None
    progress = Progress(sys.stderr)
    configure_logging(args.log_format, logging.WARNING).addFilter(progress.gate)
    try:
        return asyncio.run(_sync(args.vendor, args.user, since, until, resources, progress,
                                 replace=args.replace))
    except KeyboardInterrupt:  # a second Ctrl-C while the first waited for the running window
        print("\nengine sync: interrupted; queued windows stay queued for any `engine worker`",
              file=sys.stderr)
        return EXIT_INTERRUPTED


async def _cancel(sync_id: str) -> int:
    try:
        engine = await Engine.from_env().open()
    except EngineError as error:
        print(f"engine sync: error: {error.message}", file=sys.stderr)
        return EXIT_FAILED
    try:
        sync = await engine.sync.cancel(sync_id)
    except EngineError as error:
        print(f"engine sync: error: {error.message}: {sync_id[:64]!r}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await engine.close()
    print(f"engine sync: cancelled {sync.sync_id}: {sync.windows_cancelled} window(s) dropped, "
          f"{sync.windows_done} done ({sync.records} record(s) stored stay)", file=sys.stderr)
    return EXIT_OK


async def _sync(vendor: str, user: str, since: datetime, until: datetime | None,
                resources: list[str] | None, progress: Progress, *, replace: bool = False) -> int:
    try:
        engine = await Engine.from_env().open()
    except EngineError as error:
        print(f"engine sync: error: {error.message}", file=sys.stderr)
        return EXIT_FAILED
    try:
        try:
            plan = await engine.sync.plan(vendor, user, since=since, until=until, resources=resources,
                                          replace=replace)
        except EngineError as error:
            print(f"engine sync: error: {error.message}", file=sys.stderr)
            return EXIT_FAILED
        sync = plan.sync
        windows = ", ".join(f"{name} {count}" for name, count in plan.windows.items()) or "none"
        print(f"engine sync: {sync.sync_id}: {sync.windows_total} window(s) ({windows}) "
              f"until {plan.until.isoformat(timespec='seconds')}", file=sys.stderr)
        if sync.clipped_note:  # the range was clamped to the vendor's history horizon
            print(f"engine sync: clamped: {sync.clipped_note}", file=sys.stderr)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(signal.SIGINT, _first_interrupt, loop, stop)
        try:
            sync = await _work_until_done(engine, sync, progress, stop)
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
    finally:
        await engine.close()
    progress.finish(sync)
    if stop.is_set() and not sync.finished:
        print(f"engine sync: stopped: {sync.windows_left} window(s) stay queued; any `engine worker` "
              f"finishes them, `engine sync --cancel {sync.sync_id}` drops them", file=sys.stderr)
        return EXIT_INTERRUPTED
    if sync.errors:
        print(f"engine sync: failed: {sync.errors} of {sync.windows_total} window(s) could not be stored; "
              f"last error: {sync.last_error or 'unknown'}", file=sys.stderr)
        return EXIT_FAILED
    print(f"engine sync: done: {sync.windows_done} window(s), {sync.records} record(s)", file=sys.stderr)
    return EXIT_OK


def _first_interrupt(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Ctrl-C: finish (or hand back) the running window, then stop; a second one interrupts."""
    stop.set()
    loop.remove_signal_handler(signal.SIGINT)
    print("\nengine sync: stopping after the running window (Ctrl-C again to quit now)", file=sys.stderr)


async def _work_until_done(engine: Engine, sync: Sync, progress: Progress, stop: asyncio.Event) -> Sync:
    """Run this sync's windows only (other queued work stays for the workers), until it is done."""
    worker = engine.worker(WorkerConfig(kinds=(JobKind.SYNC_WINDOW,), backoff_base_s=1.0, backoff_cap_s=30.0,
                                        key_prefix=sync_job_key_prefix(sync.sync_id)))
    spec = engine.specs.get(sync.vendor)
    while True:
        current = await engine.store.get_sync(sync.sync_id)
        if current is None:  # removed meanwhile (the user's data was deleted)
            return sync
        sync = current
        progress.show(sync, seconds_left(sync, spec, engine.clock()))
        if sync.finished or stop.is_set():
            return sync
        if not await worker.run_once(stop):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), IDLE_WAIT_S)


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


class Progress:
    """A one-line bar redrawn in place on a terminal; on anything else, a line per change.

    Warnings logged meanwhile go through `gate`: the first of each kind is printed on a line of its
    own (the bar is cleared first and redrawn after), repeats are only counted in the bar."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.redraw = bool(getattr(stream, "isatty", lambda: False)())
        self._last: tuple[int, int, int, int] | None = None
        self._last_at = 0.0
        self._drawn = False
        self._seen: set[tuple[str, object]] = set()
        self.warnings = 0
        self.repeats = 0

    def gate(self, record: logging.LogRecord) -> bool:
        """A logging filter: False for a warning already shown once."""
        self.warnings += 1
        kind = (record.name, record.msg)
        if kind in self._seen:
            self.repeats += 1
            return False
        self._seen.add(kind)
        if self._drawn:  # the warning's line replaces the bar; the next `show` draws it again
            self.stream.write("\r\033[K")
            self._drawn, self._last = False, None
        return True

    def line(self, sync: Sync, eta_s: float | None = None) -> str:
        total = max(sync.windows_total, 1)
        filled = BAR_WIDTH * min(sync.windows_done + sync.windows_cancelled, total) // total
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        extras = [f"{sync.errors} failed"] if sync.errors else []
        if self.warnings:
            extras.append(f"{self.warnings} warning(s)")
        if eta_s and not sync.finished:
            extras.append(f"ETA {_duration(eta_s)}")
        return (f"[{bar}] {sync.windows_done}/{sync.windows_total} windows, {sync.records} records"
                + "".join(", " + extra for extra in extras))

    def show(self, sync: Sync, eta_s: float | None = None) -> None:
        state = (sync.windows_done, sync.records, sync.errors, self.warnings)
        now = time.monotonic()
        if state == self._last and (not self.redraw or now - self._last_at < 1.0):
            return
        self._last, self._last_at = state, now
        if self.redraw:
            self.stream.write("\r\033[K" + self.line(sync, eta_s))
            self._drawn = True
        else:
            self.stream.write(self.line(sync, eta_s) + "\n")
        self.stream.flush()

    def finish(self, sync: Sync) -> None:
        if self.redraw:
            self.stream.write("\r\033[K" + self.line(sync) + "\n")
            self._drawn = False
        if self.repeats:
            self.stream.write(f"engine sync: {self.warnings} warning(s); {self.repeats} repeat(s) of one "
                              "already shown were counted, not printed\n")
        self.stream.flush()
