"""How a handler's errors become the runner's signals: `PermanentJobError` when running the job
again cannot help (the vendor refused the request, the connection is gone or needs consent),
`RetryLater` when the vendor said when to come back and `Reschedule` when the job only waits for
the app's rate budget (no attempt is used). Anything else is retried with backoff and
dead-lettered, with its last error, once the attempts are used up."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from engine.context import EngineContext
from engine.errors import EngineError, NotFound, TokenError, Unavailable
from engine.fetch.errors import BudgetExhausted, FetchError
from engine.jobs import PermanentJobError, Reschedule, RetryLater
from engine.spec.model import Spec
from engine.store.port import Job
from engine.worker.context import WorkerContext

log = logging.getLogger("engine.worker")

JobHandler = Callable[[Job, WorkerContext], Coroutine[Any, Any, None]]


def spec_for(engine: EngineContext, vendor: str) -> Spec:
    try:
        return engine.spec(vendor)
    except EngineError as error:
        raise PermanentJobError(error.message) from None


def translating_errors(handler: JobHandler) -> JobHandler:
    """Map engine errors onto the runner's retry semantics and log the outcome."""

    @functools.wraps(handler)
    async def run(job: Job, engine: WorkerContext) -> None:
        context = {"job_id": job.id, "kind": job.kind, "vendor": job.vendor, "user": job.user_id,
                   "event_id": job.payload.get("event_id")}
        try:
            await handler(job, engine)
        except (PermanentJobError, RetryLater):
            raise
        except BudgetExhausted as error:
            # Waiting for the app's rate budget is not a failure: back to the queue for the slot,
            # without using an attempt.
            log.info("job waits for the rate budget", extra={**context, "error": error.message})
            raise Reschedule(error.message, error.retry_after or 1.0) from None
        except FetchError as error:
            if error.retryable:
                log.warning("job attempt failed", extra={**context, "error": error.message})
                if error.retry_after is not None:
                    raise RetryLater(error.message, error.retry_after) from None
                raise
            raise PermanentJobError(error.message) from None
        except (TokenError, NotFound) as error:
            raise PermanentJobError(error.message) from None
        except Unavailable as error:
            raise RetryLater(error.message, error.retry_after or 5.0) from None
        except EngineError as error:
            if error.status < 500:
                raise PermanentJobError(error.message) from None
            raise

    return run
