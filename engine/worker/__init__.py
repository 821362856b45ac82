"""Job runner: claims jobs from the store's queue and runs the handler registered for their kind."""

from engine.jobs import PermanentJobError, Reschedule, RetryLater
from engine.worker.runner import HandlerRegistry, Worker, WorkerConfig

__all__ = [
    "HandlerRegistry", "PermanentJobError", "Reschedule", "RetryLater", "Worker", "WorkerConfig",
]
