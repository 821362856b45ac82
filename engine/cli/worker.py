"""`engine worker`: run the job loop and the scheduler against the configured store until
interrupted."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys
from collections.abc import Mapping
from typing import Any

from engine.engine import ConfigError, Engine
from engine.logs import LOG_FORMATS, configure_logging
from engine.observability.metrics import multiprocess_mode
from engine.worker.runner import WorkerConfig
from engine.worker.scheduler import Scheduler

log = logging.getLogger("engine.worker")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker", help="run queued jobs (webhook events, backfills) and the poll/refresh scheduler",
        description="Claim jobs from the store with a lease, run them and acknowledge them; "
        "alongside, schedule incremental polls and proactive token refreshes. "
        "Store and vendors come from the same environment as `engine serve`.")
    parser.add_argument("--lease", type=float, default=30.0, metavar="SECONDS",
                        help="job lease; a job whose worker stops heartbeating runs again after it (default 30)")
    parser.add_argument("--concurrency", type=int, default=1, metavar="N", help="jobs run at once (default 1)")
    parser.add_argument("--poll", type=float, default=1.0, metavar="SECONDS",
                        help="longest wait between polls of an empty queue (default 1)")
    parser.add_argument("--max-jobs", type=int, default=None, metavar="N", help="exit after N jobs")
    parser.add_argument("--kind", action="append", dest="kinds", metavar="KIND",
                        help="only run jobs of this kind (repeatable)")
    parser.add_argument("--handlers", action="append", default=[], metavar="MODULE",
                        help="import MODULE and run its HANDLERS ({kind: async fn(job, engine)}) too "
                        "(repeatable)")
    parser.add_argument("--no-scheduler", action="store_true",
                        help="do not schedule polls and token refreshes from this process")
    parser.add_argument("--scheduler-tick", type=float, default=30.0, metavar="SECONDS",
                        help="how often the scheduler looks for due polls and refreshes (default 30)")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default=None,
                        help="json (one object per line) or text; default json unless stderr is a terminal")
    parser.set_defaults(handler=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    if args.lease <= 0 or args.concurrency < 1 or args.poll <= 0 or args.scheduler_tick <= 0:
        print("engine worker: --lease, --poll and --scheduler-tick must be positive, --concurrency at least 1",
              file=sys.stderr)
        return 2
    extra: dict[str, Any] = {}
    for name in args.handlers:
        try:
            handlers = importlib.import_module(name).HANDLERS
        except (ImportError, AttributeError) as error:
            print(f"engine worker: cannot import HANDLERS from {name!r}: {error}", file=sys.stderr)
            return 2
        if not isinstance(handlers, Mapping):
            print(f"engine worker: {name}.HANDLERS must map job kinds to handlers", file=sys.stderr)
            return 2
        extra.update(handlers)
    configure_logging(args.log_format)
    config = WorkerConfig(lease_s=args.lease, poll_s=args.poll, concurrency=args.concurrency,
                          kinds=tuple(args.kinds) if args.kinds else None)
    tick_s = None if args.no_scheduler else args.scheduler_tick
    return asyncio.run(_serve(config, args.max_jobs, tick_s, extra))


async def _serve(config: WorkerConfig, max_jobs: int | None, scheduler_tick_s: float | None,
                 extra_handlers: Mapping[str, Any]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        engine = Engine.from_env()
    except ConfigError as error:
        print(f"engine worker: error: {error.message}", file=sys.stderr)
        return 1
    with multiprocess_mode(engine.settings.data_dir):  # counts add up with `engine serve`'s
        return await _work(engine, config, max_jobs, scheduler_tick_s, extra_handlers, stop)


async def _work(engine: Engine, config: WorkerConfig, max_jobs: int | None, scheduler_tick_s: float | None,
                extra_handlers: Mapping[str, Any], stop: asyncio.Event) -> int:
    try:
        await engine.open()
    except ConfigError as error:
        print(f"engine worker: error: {error.message}", file=sys.stderr)
        return 1
    try:
        for kind, handler in extra_handlers.items():
            engine.handlers.register(kind, handler)
        worker = engine.worker(config)
        engine.outbound.start()  # outbound deliveries, beside the jobs
        kinds = ", ".join(worker.registry.kinds()) or "none"
        scheduling = "off" if scheduler_tick_s is None else f"every {scheduler_tick_s:g}s"
        log.info("worker %s started; job kinds: %s; scheduler %s", worker.worker_id, kinds, scheduling)
        scheduler = None
        if scheduler_tick_s is not None:
            scheduler = asyncio.create_task(Scheduler(engine, tick_s=scheduler_tick_s).run(stop))
        done = await worker.run(stop, max_jobs=max_jobs)
        stop.set()  # --max-jobs reached: the scheduler stops too
        if scheduler is not None:
            await scheduler
    finally:
        await engine.close()
    log.info("worker stopped after %d job(s)", done)
    return 0
