"""Run the benchmarks: ``python -m bench.run [--smoke] [--only NAME ...]``.

A full run prints every row and appends it to bench/RESULTS.md. ``--smoke`` runs each benchmark
once on a tiny input, prints, and records nothing (it keeps the code from rotting, not a measure).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback

from bench.common import Row, machine, record

BENCHMARKS = {
    "mapping": "bench.mapping",
    "coldstart": "bench.coldstart",
    "pull": "bench.pull",
    "budget": "bench.budget",
    "fleet": "bench.fleet",
    "webhooks": "bench.webhooks",
    "console": "bench.console",
    "merge": "bench.merge",
    "archive": "bench.archive",
    "outbound": "bench.outbound",
    "dlt": "bench.versus_dlt",
    "storage": "bench.storage",
    "postgres": "bench.postgres",
}


def run(names: list[str], smoke: bool) -> list[Row]:
    rows: list[Row] = []
    for name in names:
        started = time.monotonic()
        module = importlib.import_module(BENCHMARKS[name])
        try:
            produced = module.run(smoke=smoke)
        except Exception as error:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            produced = [Row(name, f"failed: {type(error).__name__}: {error}"[:200], "-", "-", "-", False)]
        for row in produced:
            print(row.markdown(), end="", flush=True)
        print(f"# {name}: {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
        rows.extend(produced)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--smoke", action="store_true", help="tiny inputs, no timing, nothing recorded")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), default=None)
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    print(f"# {machine()}", flush=True)
    rows = run(names, args.smoke)
    if not args.smoke:
        record(rows)
    failed = [r for r in rows if r.engine.startswith("failed:")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
