"""Benchmark 9: the engine's durable pull against dlt loading the same pages into duckdb.

The same page server serves the same WHOOP v2 sleep records to both (random-looking UUID ids as
WHOOP's are, every record scored and not a nap: three samples each), and both map them with
the same function:

* engine: `SyncService.run_window` in its default configuration (embedded SQLite store, raw
  archive on, outbox on): fetch -> map (the compiled WHOOP spec) -> durable upsert;
* dlt: `rest_api_source` with a JSON-cursor paginator, the pages piped through a transformer
  that calls the hand mapping of the pull benchmark (`bench.handwritten.whoop_sleep`), append
  write disposition, duckdb destination, `loader_file_format="jsonl"`; and, for context only
  and on fewer records (it is much slower), dlt's default loader for duckdb.

Each contender runs in a fresh process (``python -m bench.versus_dlt --child ...``), timed from
opening its store or pipeline to the end of the load, imports excluded; they take turns. dlt
keeps every working directory in a temporary one, with its telemetry off and duckdb's extension
downloads off: nothing leaves the machine. Needs the `bench` extra (``pip install -e '.[bench]'``);
without it the rows say so.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Row, fmt_rate, unavailable
from bench.pull import USER, page_server

GOAL = 1.5
INSTALL = "pip install -e '.[bench]'"
SHAPE = ("--uuid-ids", "--every-sample")
SAMPLES_PER_RECORD = 3
CHILD_TIMEOUT_S = 600


def dlt_environment(work_dir: str) -> dict[str, str]:
    """dlt's settings for a run that writes only under ``work_dir`` and calls nobody."""
    return {
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "DLT_DATA_DIR": os.path.join(work_dir, "dlt-data"),  # global dir: telemetry id, secrets
        "DLT_PROJECT_DIR": os.path.join(work_dir, "project"),  # no .dlt/ config of the checkout
        "RUNTIME__SENTRY_DSN": "",
    }


def _map_page(page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from bench import handwritten

    return handwritten.whoop_sleep(page, USER)


def dlt_pull(base_url: str, loader: str | None, work_dir: str) -> dict[str, Any]:
    """One dlt pipeline run over every page; ``loader`` None is dlt's default for duckdb."""
    import dlt
    from dlt.common.jsonpath import compile_path
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
    from dlt.sources.rest_api import rest_api_source

    started = time.perf_counter()
    source = rest_api_source({
        "client": {
            "base_url": f"{base_url}/developer/v2/activity/",
            "paginator": {"type": "cursor", "cursor_path": "next_token", "cursor_param": "nextToken"},
        },
        "resource_defaults": {"write_disposition": "append"},
        "resources": [{
            "name": "sleep",
            # Compiled here: jsonpath-ng (1.8.0 here) builds its parser tables on every parse, and
            # a selector given as text is parsed again for every page (~20 ms a page here).
            "endpoint": {"path": "sleep", "params": {"limit": 25},
                         "data_selector": compile_path("records")},
        }],
    })
    samples = source.resources["sleep"] | dlt.transformer(
        name="samples", write_disposition="append")(_map_page)
    credentials = DuckDbCredentials(os.path.join(work_dir, "store.duckdb"),
                                    global_config={"autoinstall_known_extensions": False})
    pipeline = dlt.pipeline(pipeline_name="whoop_pull", pipelines_dir=os.path.join(work_dir, "pipelines"),
                            destination=dlt.destinations.duckdb(credentials), dataset_name="whoop")
    info = pipeline.run(samples, loader_file_format=loader)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    info.raise_on_failed_jobs()
    with pipeline.sql_client() as client:
        counted = client.execute_sql("SELECT count(*) FROM samples")
    trace = pipeline.last_trace
    assert counted is not None and trace is not None
    steps = {step.step: (step.finished_at - step.started_at).total_seconds()
             for step in trace.steps if step.finished_at is not None}
    return {"seconds": seconds, "rows": counted[0][0], "steps": steps,
            "loader": loader or pipeline.destination.capabilities().preferred_loader_file_format}


def engine_pull(base_url: str, work_dir: str) -> dict[str, Any]:
    from bench.pull import engine_with_store

    started = time.perf_counter()
    records, written = asyncio.run(engine_with_store(base_url, str(work_dir)))
    return {"seconds": time.perf_counter() - started, "records": records, "rows": written}


def _child(kind: str, base_url: str, loader: str = "") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as work_dir:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if kind == "dlt":
            env.update(dlt_environment(work_dir))
        out = subprocess.run(
            [sys.executable, "-m", "bench.versus_dlt", "--child", kind, "--url", base_url,
             "--work-dir", work_dir, "--loader", loader],
            cwd=work_dir, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} child failed: {out.stderr.strip()[-600:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _checked(result: dict[str, Any], name: str, records: int) -> float:
    if result["rows"] != SAMPLES_PER_RECORD * records:
        raise AssertionError(f"{name} stored {result['rows']} samples, expected "
                             f"{SAMPLES_PER_RECORD * records} from {records} records")
    return records / result["seconds"]


def _steps(result: dict[str, Any]) -> str:
    steps = result["steps"]
    return ", ".join(f"{name} {steps[name]:.1f} s" for name in ("extract", "normalize", "load")
                     if name in steps)


def installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("dlt", "duckdb"))


def run(smoke: bool = False) -> list[Row]:
    goal = f">= {GOAL}x dlt jsonl (stretch)"
    if not installed():
        return [unavailable("9 durable pull vs dlt", f"dlt and duckdb not installed ({INSTALL})", goal)]
    # The 100/page row pulls half as many records: both rows at 100,000 took 3.2 minutes here
    # (engine ~1.8k rec/s), over this module's 3-minute share of `make bench`.
    sizes = ((25, 200), (100, 200)) if smoke else ((25, 100_000), (100, 50_000))
    default_total = 100 if smoke else 3_000
    rows: list[Row] = []
    engine_rate_25, total_25 = 0.0, 0
    for turn, (page_size, total) in enumerate(sizes):
        with page_server(total, page_size, SHAPE) as base_url:
            order = ("engine", "dlt") if turn % 2 == 0 else ("dlt", "engine")
            results = {kind: _child(kind, base_url, "jsonl" if kind == "dlt" else "") for kind in order}
        engine_rate = _checked(results["engine"], "engine", total)
        dlt_rate = _checked(results["dlt"], "dlt jsonl", total)
        if not engine_rate_25:
            engine_rate_25, total_25 = engine_rate, total
        rows.append(Row(
            f"9 durable pull vs dlt: {total:,} WHOOP sleeps (UUID ids, 3 samples each), {page_size}/page",
            f"engine + SQLite (archive, outbox on) {fmt_rate(engine_rate)} rec/s "
            f"({results['engine']['rows']:,} samples)",
            f"dlt rest_api -> duckdb jsonl, same hand mapping {fmt_rate(dlt_rate)} rec/s "
            f"({_steps(results['dlt'])})",
            f"{engine_rate / dlt_rate:.2f}x", goal, engine_rate >= GOAL * dlt_rate))
    with page_server(default_total, 25, SHAPE) as base_url:
        default = _child("dlt", base_url)
    default_rate = _checked(default, "dlt default loader", default_total)
    rows.append(Row(
        f"9 durable pull vs dlt: dlt's default duckdb loader, {default_total:,} WHOOP sleeps, 25/page (context)",
        f"engine {fmt_rate(engine_rate_25)} rec/s (the 25/page row, {total_25:,} records)",
        f"dlt -> duckdb {default['loader']} (its default) {fmt_rate(default_rate)} rec/s "
        f"({_steps(default)})",
        f"{engine_rate_25 / default_rate:.2f}x", "- (context)", None))
    return rows


def _child_main(args: argparse.Namespace) -> None:
    if args.child == "engine":
        result = engine_pull(args.url, args.work_dir)
    else:
        result = dlt_pull(args.url, args.loader or None, args.work_dir)
    print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=("engine", "dlt"), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--loader", default="", help="dlt's loader_file_format; empty: its default")
    _child_main(parser.parse_args())
