"""Structured logs: one JSON object per line, carrying the vendor, user, event id, job id and trace
id of whatever is being done, and never a token or secret.

Context travels in context variables, so every line logged while a request or a job runs carries
its ids without each call passing them:

    with log_context(trace_id=new_trace_id(), job_id=job.id, vendor=job.vendor):
        log.info("fetched")        # -> {"msg": "fetched", "trace_id": "...", "job_id": ..., ...}

`configure_logging("json" | "text" | None)` installs the handler (None: JSON unless stderr is a
terminal). HTTP requests get their trace id at the API's edge (`engine.api.edge`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import re
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TextIO

from engine.instants import iso_utc

CONTEXT_FIELDS = ("trace_id", "job_id", "event_id", "vendor", "user")
LOG_FORMATS = ("json", "text")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("engine_log_context", default=_EMPTY)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

REDACTED = "[redacted]"
# Field names whose values are never written out, whatever they hold.
_SECRET_KEY = re.compile(r"(token|secret|password|passwd|authorization|api_key|apikey|cookie|"
                         r"verifier|signature|credential|^code$)", re.IGNORECASE)
# Secrets embedded in free text: query strings, form bodies, headers, JSON fragments.
_SECRET_IN_TEXT = re.compile(
    r"""(?P<name>\b(?:(?:access_token|refresh_token|id_token|client_secret|code_verifier|token|password|"""
    r"""api_key|signature)["']?\s*[=:]\s*["']?|(?:code|state)=))(?P<value>[^&\s"',;}]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_TRACE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def is_trace_id(text: str) -> bool:
    """Whether a caller's request id is sane enough to log and echo as our trace id."""
    return bool(_TRACE_ID.match(text))


def new_trace_id() -> str:
    # A correlation id, not a secret: the seeded generator (reseeded in forked children), because
    # os.urandom is a system call that gives up the interpreter lock on every request.
    return f"{random.getrandbits(64):016x}"


class log_context:
    """Add `fields` (None values are skipped) to every log line written inside the block. A class
    rather than a generator-based context manager: it wraps every request and job."""

    __slots__ = ("_fields", "_token")

    def __init__(self, **fields: Any) -> None:
        self._fields = fields
        self._token: contextvars.Token[Mapping[str, Any]] | None = None

    def __enter__(self) -> None:
        added = {k: v for k, v in self._fields.items() if v is not None}
        self._token = _context.set({**_context.get(), **added})

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _context.reset(self._token)


def redact_text(text: str) -> str:
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _SECRET_IN_TEXT.sub(lambda m: m.group("name") + REDACTED, text)


def _clean(key: str, value: Any) -> Any:
    if isinstance(value, str) and value and _SECRET_KEY.search(key) and key not in CONTEXT_FIELDS:
        return REDACTED  # ints and flags under such names (token_version) say nothing secret
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(key, v) for v in value]
    return redact_text(str(value))


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context and `extra=` fields of a record, secrets redacted."""
    fields = dict(_context.get())
    for key, value in vars(record).items():
        if key not in _STANDARD_ATTRS and not key.startswith("_"):
            fields[key] = value
    if "user_id" in fields and "user" not in fields:
        fields["user"] = fields.pop("user_id")
    return {key: _clean(key, value) for key, value in fields.items() if value is not None}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": iso_utc(record.created, "milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        line.update(record_fields(record))
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = redact_text(f"{record.exc_info[0].__name__}: {record.exc_info[1]}")
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the same fields and the same redaction."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        saved = record.msg, record.args, record.exc_info, record.exc_text
        record.msg, record.args = redact_text(record.getMessage()), ()
        record.exc_info = record.exc_text = None  # no tracebacks: the error line says enough
        try:
            text = super().format(record)
        finally:
            record.msg, record.args, record.exc_info, record.exc_text = saved
        fields = record_fields(record)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of each line (it may be replaced)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def default_format(stream: TextIO | None = None) -> str:
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure_logging(log_format: str | None = None, level: int | str = logging.INFO,
                      stream: TextIO | None = None) -> logging.Handler:
    """Send every log line (the engine's, the HTTP server's, libraries') through one handler on
    the root logger; returns it. `log_format` None picks JSON unless the stream is a terminal."""
    chosen = log_format or default_format(stream)
    if chosen not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {chosen!r}")
    handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderrHandler()
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_engine_handler", False):
            root.removeHandler(old)
    handler._engine_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # one format for every line
        server_log = logging.getLogger(name)
        server_log.handlers.clear()
        server_log.propagate = True
    return handler
