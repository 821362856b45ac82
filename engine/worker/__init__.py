"""Job runner: claims jobs from the store's queue and runs the handler registered for their kind."""

from engine.worker.runner import (
    REGISTRY,
    HandlerRegistry,
    PermanentJobError,
    Reschedule,
    RetryLater,
    Worker,
    WorkerConfig,
    backoff_delay,
    register_handler,
)

__all__ = [
    "REGISTRY", "HandlerRegistry", "PermanentJobError", "Reschedule", "RetryLater", "Worker",
    "WorkerConfig", "backoff_delay", "register_handler",
]
