"""`engine jobs [--state failed|dead] [--retry ID]`: background work and its errors."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_engine_options,
    run_with_engine,
    table,
    when,
)
from engine.engine import Engine
from engine.instants import iso_utc
from engine.store.port import JOB_STATES, Job


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "jobs", help="list background jobs and retry failed ones",
        description="Count jobs per state and list them (newest last) with their last error; "
        "--retry ID requeues a failed or dead job with a fresh attempt count.")
    parser.add_argument("--state", choices=JOB_STATES, default=None, help="only jobs in this state")
    parser.add_argument("--kind", default=None, help="only jobs of this kind")
    parser.add_argument("--limit", type=int, default=50, help="most jobs to list (default 50)")
    parser.add_argument("--retry", metavar="ID", default=None, help="requeue this failed or dead job")
    add_engine_options(parser)
    parser.set_defaults(handler=run_jobs)


def run_jobs(args: argparse.Namespace) -> int:
    async def body(engine: Engine) -> int:
        store = engine.store
        if args.retry:
            job = await store.get_job(args.retry)
            if job is None:
                print(f"engine jobs: no job {args.retry!r}", file=sys.stderr)
                return EXIT_FAILED
            if not await store.retry_job(args.retry):
                print(f"engine jobs: job {args.retry} is {job.state}; only failed or dead jobs can be "
                      "retried", file=sys.stderr)
                return EXIT_FAILED
            print(f"job {args.retry} requeued")
            return EXIT_OK
        counts = await store.count_jobs()
        jobs = await _newest(engine, args)
        if args.format == "json":
            print(json.dumps({"counts": counts, "jobs": [describe(j) for j in jobs]}, indent=2))
            return EXIT_OK
        print("  ".join(f"{state} {counts.get(state, 0)}" for state in JOB_STATES))
        if jobs:
            now = engine.clock()
            rows = [[j.id, j.kind, j.state, j.vendor or "-", j.user_id or "-", f"{j.attempts}/{j.max_attempts}",
                     when(j.run_at, now), (j.last_error or "-")[:160]] for j in jobs]
            print(table(["ID", "KIND", "STATE", "VENDOR", "USER", "ATTEMPTS", "RUN AT", "LAST ERROR"], rows))
        return EXIT_OK

    return run_with_engine("jobs", args, body)


async def _newest(engine: Engine, args: argparse.Namespace) -> list[Job]:
    """The last `limit` jobs (ids sort by creation), paging through the store."""
    limit = max(1, min(args.limit, 1000))
    kept: list[Job] = []
    after: str | None = None
    while True:
        page = await engine.store.list_jobs(state=args.state, kind=args.kind, limit=500, after_id=after)
        kept = (kept + page)[-limit:]
        if len(page) < 500:
            return kept
        after = page[-1].id


def describe(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.id, "kind": job.kind, "state": job.state, "vendor": job.vendor,
        "user_id": job.user_id, "attempts": job.attempts, "max_attempts": job.max_attempts,
        "run_at": iso_utc(job.run_at), "last_error": job.last_error,
    }
