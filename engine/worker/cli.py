"""`engine worker`: run the job loop against the configured store until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys

from engine.worker.runner import REGISTRY, Worker, WorkerConfig

# Modules that register the engine's own job handlers when imported.
DEFAULT_HANDLER_MODULES: list[str] = ["engine.worker.handlers"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker", help="run queued jobs (webhook events, backfills)",
        description="Claim jobs from the store with a lease, run them and acknowledge them. "
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
                        help="import MODULE, which registers extra job handlers (repeatable)")
    parser.set_defaults(handler=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    if args.lease <= 0 or args.concurrency < 1 or args.poll <= 0:
        print("engine worker: --lease and --poll must be positive, --concurrency at least 1", file=sys.stderr)
        return 2
    for module in [*DEFAULT_HANDLER_MODULES, *args.handlers]:
        try:
            importlib.import_module(module)
        except ImportError as error:
            print(f"engine worker: cannot import handler module {module!r}: {error}", file=sys.stderr)
            return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = WorkerConfig(lease_s=args.lease, poll_s=args.poll, concurrency=args.concurrency,
                          kinds=tuple(args.kinds) if args.kinds else None)
    return asyncio.run(_serve(config, args.max_jobs))


async def _serve(config: WorkerConfig, max_jobs: int | None) -> int:
    from engine.engine import Engine  # the composition root sits above the worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Engine.from_env() as engine:
        worker = Worker(engine.store, engine, registry=REGISTRY, config=config, clock=engine.clock)
        kinds = ", ".join(worker.registry.kinds()) or "none"
        logging.getLogger("engine.worker").info("worker %s started; job kinds: %s", worker.worker_id, kinds)
        done = await worker.run(stop, max_jobs=max_jobs)
    logging.getLogger("engine.worker").info("worker stopped after %d job(s)", done)
    return 0
