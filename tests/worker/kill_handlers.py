"""Job handlers for the kill-the-worker test, imported by `engine worker --handlers`.

The first attempt records that it started and then hangs (the test kills the process); a later
attempt records that it finished."""

from __future__ import annotations

import asyncio
from pathlib import Path


async def hang_then_finish(job, engine) -> None:
    marks = Path(job.payload["marks"])
    if job.attempts == 1:
        (marks / "started").write_text(str(job.attempts))
        await asyncio.sleep(3600)
    (marks / "finished").write_text(str(job.attempts))


HANDLERS = {"test_hang_then_finish": hang_then_finish}
