"""A job handler for the stop-while-waiting-for-a-budget test, imported by `engine worker
--handlers`: it takes the budget's one burst slot, says so, then waits in place (~40 s) for the
next slot before finishing."""

from __future__ import annotations

from pathlib import Path

from engine.fetch.ratelimit import RateGovernor
from engine.spec.model import Budget
from engine.worker.handlers import translating_errors
from tests.fetch.helpers import limits_spec

# 3 requests per 80 s is run at one slot every 40 s with a burst of 1.
SLOW_BUDGET = Budget(per="app", requests=3, window_s=80)


@translating_errors
async def wait_for_budget(job, engine) -> None:
    marks = Path(job.payload["marks"])
    governor = RateGovernor(limits_spec([SLOW_BUDGET]), engine.store)
    await governor.acquire(None, max_wait_s=60)
    (marks / f"waiting-{job.attempts}").write_text(str(job.attempts))
    await governor.acquire(None, max_wait_s=60)  # waits in place for the next slot
    (marks / "finished").write_text(str(job.attempts))


HANDLERS = {"test_wait_for_budget": wait_for_budget}
