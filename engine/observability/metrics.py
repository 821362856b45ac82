"""The engine's Prometheus metrics: one registry per `Engine`, nothing at module level.

In one process (tests, an embedding application) the instruments live in the engine's own
registry. `engine serve` and `engine worker` run as separate processes over one store, so both
run inside `multiprocess_mode`: the library's multiprocess mode, with its files under the
engine's data directory (`<data_dir>/metrics`, unless PROMETHEUS_MULTIPROC_DIR is already set).
Every process then writes its counts there and a scrape of either one adds them all up. The files
outlive the processes on purpose: counters only grow across restarts (what `rate()` expects), and
there are no per-process gauges that would need cleaning up.

Queue depth and the oldest queued job's age are read from the store at scrape time, so they are
right whichever process runs the jobs. Every label value is bounded: vendor ids are the loaded
specs, job kinds the registered handlers, statuses HTTP codes, reasons the small sets below.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram
    from prometheus_client.metrics_core import Metric

    from engine.store.port import Jobs

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


@contextmanager
def multiprocess_mode(data_dir: Path) -> Iterator[Path]:
    """Within the block, `Metrics` made in this process share their counts through files:
    PROMETHEUS_MULTIPROC_DIR as the operator set it, else `<data_dir>/metrics` (owner-only). What
    the process had before is put back on exit, so a command run in-process leaves nothing behind."""
    from prometheus_client import values

    before = os.environ.get(MULTIPROCESS_ENV)
    directory = Path(before or data_dir / "metrics")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ[MULTIPROCESS_ENV] = str(directory)
    # The library picks its value store when first imported; pick again now the variable is set.
    previous, values.ValueClass = values.ValueClass, values.get_value_class()
    try:
        yield directory
    finally:
        values.ValueClass = previous
        if before is None:
            os.environ.pop(MULTIPROCESS_ENV, None)


def verification_reason(status: int, message: str) -> str:
    """A refused delivery's reason as a label (the message names headers the spec chose)."""
    if status == 409:
        return "not_configured"
    text = message.lower()
    for word, reason in (("timestamp", "timestamp"), ("signature", "signature"),
                         ("does not match", "header_mismatch"), ("missing", "missing_header")):
        if word in text:
            return reason
    return "malformed"


def webhook_outcome(method: str, status: int) -> str:
    if status < 400:
        return "accepted" if method == "POST" else "handshake"
    if status in (401, 403):
        return "unauthenticated"
    if status >= 500:
        return "unavailable"
    return "refused"


class _QueueCollector:
    """Store-derived gauges, as last read by `Metrics.read_queue`."""

    def __init__(self) -> None:
        self.depth: dict[str, int] = {}
        self.oldest_age_s = 0.0

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        depth = GaugeMetricFamily("engine_queue_jobs", "Jobs in the store by state", labels=["state"])
        for state, count in sorted(self.depth.items()):
            depth.add_metric([state], count)
        yield depth
        yield GaugeMetricFamily("engine_queue_oldest_job_age_seconds",
                                "Age of the oldest queued job (0 when none is queued)",
                                value=self.oldest_age_s)


class Metrics:
    """The instruments of one engine. Hooks take plain values and never raise."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, values
        from prometheus_client.multiprocess import MultiProcessCollector

        self.registry = CollectorRegistry(auto_describe=True)
        directory = os.environ.get(MULTIPROCESS_ENV)
        shared = bool(directory) and values.ValueClass is not values.MutexValue
        self.multiprocess_dir = Path(directory) if shared and directory else None
        if self.multiprocess_dir is not None:
            MultiProcessCollector(self.registry, path=str(self.multiprocess_dir))
        own = None if shared else self.registry  # shared values are read back from the files

        def counter(name: str, text: str, labels: list[str]) -> Counter:
            return Counter(name, text, labels, registry=own)

        self.webhook_deliveries = counter(
            "engine_webhook_deliveries", "Webhook requests by vendor and outcome", ["vendor", "outcome"])
        self.verification_failures = counter(
            "engine_webhook_verification_failures", "Deliveries refused by verification, by reason",
            ["vendor", "reason"])
        self.jobs = counter("engine_jobs", "Job attempts finished, by kind and the state they left",
                            ["kind", "state"])
        self.job_duration: Histogram = Histogram(
            "engine_job_duration_seconds", "Time one job attempt ran, by kind", ["kind"],
            buckets=JOB_BUCKETS, registry=own)
        self.vendor_requests = counter(
            "engine_vendor_requests", "Requests to vendor APIs by HTTP status (0: no answer)",
            ["vendor", "status"])
        self.rate_limited = counter("engine_vendor_rate_limited", "Vendor answers asking to slow down",
                                    ["vendor"])
        self.budget_waits = counter("engine_budget_waits", "Requests that waited for a rate budget",
                                    ["vendor"])
        self.budget_wait_seconds = counter("engine_budget_wait_seconds", "Time spent waiting for rate budgets",
                                           ["vendor"])
        self.token_refreshes = counter("engine_token_refreshes", "Token refreshes by outcome",
                                       ["vendor", "outcome"])
        self.samples_written = counter("engine_samples_written", "Samples inserted or changed in the store",
                                       ["vendor"])
        self.outbound_deliveries = counter("engine_outbound_deliveries", "Outbound deliveries by outcome",
                                           ["outcome"])
        self._queue = _QueueCollector()
        self.registry.register(self._queue)

    # ------------------------------------------------------------------ hooks

    def webhook_answered(self, vendor: str, method: str, status: int, message: str | None = None) -> None:
        self.webhook_deliveries.labels(vendor, webhook_outcome(method, status)).inc()

    def webhook_refused(self, vendor: str, status: int, message: str) -> None:
        self.verification_failures.labels(vendor, verification_reason(status, message)).inc()

    def job_finished(self, kind: str, state: str, seconds: float) -> None:
        self.jobs.labels(kind, state).inc()
        self.job_duration.labels(kind).observe(max(0.0, seconds))

    def vendor_answered(self, vendor: str, status: int) -> None:
        self.vendor_requests.labels(vendor, str(status)).inc()

    def vendor_rate_limited(self, vendor: str) -> None:
        self.rate_limited.labels(vendor).inc()

    def budget_waited(self, vendor: str, seconds: float) -> None:
        if seconds > 0:
            self.budget_waits.labels(vendor).inc()
            self.budget_wait_seconds.labels(vendor).inc(seconds)

    def token_refreshed(self, vendor: str, outcome: str) -> None:
        self.token_refreshes.labels(vendor, outcome).inc()

    def samples_stored(self, vendor: str, count: int) -> None:
        if count > 0:
            self.samples_written.labels(vendor).inc(count)

    def outbound_delivered(self, outcome: str) -> None:
        self.outbound_deliveries.labels(outcome).inc()

    # ------------------------------------------------------------------ scraping

    async def read_queue(self, store: Jobs, now: float) -> None:
        """Refresh the store-derived gauges (called by the scrape, before `render`)."""
        self._queue.depth = dict(await store.count_jobs())
        oldest = await store.list_jobs(state="queued", limit=1)
        self._queue.oldest_age_s = max(0.0, now - oldest[0].created_at) if oldest else 0.0

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def value(self, name: str, **labels: Any) -> float:
        """One sample's current value (0 when absent): for tests and the console."""
        found = self.registry.get_sample_value(name, {k: str(v) for k, v in labels.items()})
        return float(found or 0.0)
